"""``coagent demo``: the main job on the in-process runtime.

Registers a ping-pong echo, a streaming counter and a supervisor with a
deliberately crashing child, exercises them, and prints the supervision tree
before and after the crash and restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from rich.console import Console
from rich.rule import Rule

from coagent.actors import Actor, Address, Context, Message, handler
from coagent.cli.render import tree_renderable
from coagent.errors import AgentCrashed
from coagent.runtimes import LocalRuntime
from coagent.supervision import AgentSpec, ChildSpec, Supervisor, new


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


async def run_demo(console: Console | None = None) -> None:
    console = console or Console()
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
