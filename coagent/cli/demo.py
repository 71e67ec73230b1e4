"""``coagent demo``: the main job on the in-process runtime, offline, in a few seconds.

::

    coagent demo

Registers a ping-pong echo, a streaming counter and a supervisor with a
deliberately crashing child, exercises them, and prints the supervision tree
before and after the crash and restart. Then an LLM agent calls a tool and streams
its answer, and a ``DynamicTriage`` pattern routes two requests to the agents of a
namespace, both on scripted models (:class:`coagent.testing.ScriptedModel`: no
network, no key). It ends with where to go next.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from coagent.actors import Actor, Address, Context, Message, handler
from coagent.cli.render import tree_renderable
from coagent.errors import AgentCrashed
from coagent.runtimes import LocalRuntime
from coagent.supervision import AgentSpec, ChildSpec, Supervisor, new
from coagent.testing import ModelRequest, Reply, ScriptedModel, tool_call


class DemoPing(Message):
    n: int = 0


class DemoPong(Message):
    n: int = 0
    served: int = 0


class DemoCount(Message):
    n: int = 5


class DemoTick(Message):
    i: int = 0


class DemoFail(Message):
    reason: str = "simulated failure"


class Echo(Actor):
    """Replies to each ping, counting how many this session's instance has served."""

    def __init__(self) -> None:
        self.served = 0

    @handler
    async def ping(self, msg: DemoPing, ctx: Context) -> DemoPong:
        self.served += 1
        return DemoPong(n=msg.n, served=self.served)


class Counter(Actor):
    """Streams ``n`` ticks."""

    @handler
    async def count(self, msg: DemoCount, ctx: Context) -> AsyncIterator[DemoTick]:
        for i in range(msg.n):
            await asyncio.sleep(0.02)
            yield DemoTick(i=i)


class Flaky(Echo):
    """An echo that crashes on demand."""

    @handler
    async def fail(self, msg: DemoFail, ctx: Context) -> None:
        raise RuntimeError(msg.reason)


def specs() -> list[AgentSpec]:
    return [
        AgentSpec("echo", new(Echo), description="ping-pong echo"),
        AgentSpec("counter", new(Counter), description="streams ticks"),
        AgentSpec(
            "team",
            new(Supervisor, children=[
                ChildSpec("steady", new(Echo)),
                ChildSpec("flaky", new(Flaky)),
                ChildSpec("after", new(Echo)),
            ], strategy="rest_for_one", max_restarts=3, period=5.0),
            description="a supervisor with a deliberately crashing child",
        ),
    ]


# ------------------------------------------------------------------ LLM agents

def get_weather(city: str) -> str:
    """Today's weather in a city.

    Args:
        city: the city's name, e.g. Paris.
    """
    return {"paris": "sunny, 21 °C", "oslo": "snowing, -3 °C"}.get(city.lower(), "cloudy, 15 °C")


def _user_text(request: ModelRequest) -> str:
    return next((m.get("content") or "" for m in reversed(request.messages) if m.get("role") == "user"), "")


def _streamed(text: str) -> Reply:
    return Reply(text, chunk_delay=0.02)  # slow enough to see the answer arrive word by word


def weather_model(request: ModelRequest) -> Reply:
    """What a good model would do as the weather assistant: call the tool, then answer."""
    if request.tool_results:
        result = request.tool_results[-1]["content"]
        return _streamed(f"Today it is {result} there.")
    city = re.findall(r"\b(?:in|at) ([A-Z][a-z]+)", _user_text(request)) or ["Paris"]
    return Reply(tool_calls=[tool_call("get_weather", city=city[0])])


def poet_model(request: ModelRequest) -> Reply:
    return _streamed("Each actor reads its mail alone;\nwhen one falls down, a fresh one's grown.")


def triage_model(request: ModelRequest) -> Reply:
    """Routes by the request's words, with the transfer tools the triage agent offers."""
    wanted = "poet" if re.search(r"poem|verse|rhyme", _user_text(request), re.I) else "weather"
    [name] = [n for n in request.tool_names if n.endswith(wanted)]
    return Reply(tool_calls=[tool_call(name)])


def llm_specs() -> list[AgentSpec]:
    from coagent.agents import DynamicTriage, StreamChatAgent

    return [
        AgentSpec("team.weather", new(
            StreamChatAgent, system="You answer questions about the weather.",
            client=ScriptedModel(default=weather_model), tools=[get_weather],
        ), description="answers questions about the weather, with a weather tool"),
        AgentSpec("team.poet", new(
            StreamChatAgent, system="You write two-line poems.", client=ScriptedModel(default=poet_model),
        ), description="writes short poems"),
        AgentSpec("triage", new(
            DynamicTriage, system="Send the user to the agent that fits.",
            client=ScriptedModel(default=triage_model), namespace="team",
        ), description="routes each request to an agent of the team namespace"),
    ]


async def _stream_answer(console: Console, runtime: LocalRuntime, address: Address, text: str) -> None:
    from coagent.agents import ChatMessage

    console.print(f"[bold]you[/bold] -> {address}: {text}")
    console.print(f"[bold]{address.name}[/bold]: ", end="")
    async for chunk in runtime.stream(address, ChatMessage(role="user", content=text)):
        if isinstance(chunk, ChatMessage) and chunk.content:
            console.print(chunk.content, end="", highlight=False)
    console.print()


def _command(name: str) -> str:
    """How to run a command of this virtualenv from here (``.venv/bin/coagent``, or just ``coagent``)."""
    path = Path(sys.executable).parent / name
    if shutil.which(name) == str(path):
        return name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def next_steps(console: Console) -> None:
    coagent, python, nats = _command("coagent"), _command("python"), _command("nats-server")
    translator = f"{coagent} node examples/translator/translator.py --server nats://localhost:4222"
    console.print(Rule("where to go next"))
    if coagent != "coagent":
        console.print(f"(or `source {Path(coagent).parent}/activate`, then plain `coagent`)", highlight=False)
    console.print("The same agents across processes (README: Quick start (NATS)), offline:", highlight=False)
    for line in (
        f"{nats} -js &",
        f"{translator} &",
        f"{coagent} translator -H type:ChatMessage --chat -d '{{\"role\": \"user\", \"content\": \"你好，世界\"}}'",
        f"{coagent} tree",
    ):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)  # copyable lines
    console.print("The examples, each offline (a MODEL_NAME / MODEL_API_KEY uses your provider):", highlight=False)
    for line in (f"{python} examples/ping_pong.py", f"{python} examples/patterns/triaging.py",
                 "ls examples examples/patterns"):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    console.print("README.md explains each part; `coagent --help` lists the commands.", highlight=False)


async def run_demo(console: Console | None = None) -> None:
    console = console or Console()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download
    async with LocalRuntime(name="demo") as runtime:
        for spec in specs():
            await runtime.register(spec)

        console.print(Rule("ping-pong"))
        for n in range(1, 4):
            pong = await runtime.ask(Address("echo", "alice"), DemoPing(n=n))
            console.print(f"echo:alice  ping {n} -> pong {pong.n} (served {pong.served})")
        pong = await runtime.ask(Address("echo", "bob"), DemoPing(n=1))
        console.print(f"echo:bob    ping 1 -> pong {pong.n} (served {pong.served}: its own instance)")

        console.print(Rule("streaming"))
        ticks = [tick.i async for tick in runtime.stream(Address("counter", "alice"), DemoCount(n=5))]
        console.print(f"counter:alice streamed {ticks}")

        console.print(Rule("supervision (rest_for_one)"))
        for child in ("steady", "flaky", "after"):
            await runtime.ask(Address(f"team.{child}", "s1"), DemoPing())
            await runtime.ask(Address(f"team.{child}", "s1"), DemoPing())
        console.print("tree before the crash:")
        console.print(tree_renderable(await runtime.tree()))

        started = time.perf_counter()
        try:
            await runtime.ask(Address("team.flaky", "s1"), DemoFail(reason="simulated failure"))
        except AgentCrashed as exc:
            elapsed = (time.perf_counter() - started) * 1000
            console.print(f"[red]team.flaky:s1 crashed[/red] -> caller got AgentCrashed({exc}) in {elapsed:.1f} ms")
        served = {}
        for child in ("steady", "flaky", "after"):
            served[child] = (await runtime.ask(Address(f"team.{child}", "s1"), DemoPing())).served
        console.print(
            "after restart: steady kept its state (served "
            f"{served['steady']}), flaky and after are fresh (served {served['flaky']}, {served['after']})"
        )
        console.print("tree after the crash and restart:")
        console.print(tree_renderable(await runtime.tree()))

        console.print(Rule("an LLM agent (scripted model, offline)"))
        for spec in llm_specs():
            await runtime.register(spec)
        await _stream_answer(console, runtime, Address("team.weather", "alice"), "What is the weather in Paris?")
        from coagent.agents import GetUsage

        usage = (await runtime.ask(Address("team.weather", "alice"), GetUsage())).usage
        console.print(f"(one tool call, get_weather; {usage.requests} model calls, {usage.total_tokens} tokens)",
                      highlight=False)

        console.print(Rule("a pattern: DynamicTriage routes to the agents of a namespace"))
        for session, text in (("bob", "Write a poem about actors"), ("carol", "And the weather in Oslo?")):
            await _stream_answer(console, runtime, Address("triage", session), text)
            tree = await runtime.tree()
            chosen = [a.name for a in tree.agents if a.name.startswith("team.")
                      and any(n.session == session for n in a.sessions)]
            console.print(f"(the triage model chose {', '.join(chosen)}; its answer streamed back through triage)",
                          highlight=False)
    next_steps(console)
