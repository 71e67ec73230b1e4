"""Regressions for the defects a review found (issue 9, defects 4-7); each failed before its fix."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from coagent import Actor, Address, Context, handler
from coagent.actors.cell import DEFER, CellStatus, Defer, Restart, Terminate
from coagent.agents import ChatAgent, Sequential
from coagent.agents.chat import TextDelta, ToolActions, ToolResults, TurnFinished
from coagent.agents.patterns.base import Pattern
from coagent.core import AgentSpec, ChildSpec, Supervisor, new
from coagent.errors import AgentStopped, NotHosted, RuntimeNotStarted
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.kit import Ping, Pong


class Counted(Actor):
    """Counts its live instances across every session, from started() to stopped()."""

    live = 0
    peak = 0

    async def started(self) -> None:
        Counted.live += 1
        Counted.peak = max(Counted.peak, Counted.live)
        await asyncio.sleep(0.01)

    async def stopped(self) -> None:
        await asyncio.sleep(0.05)  # a slow stop: the window in which a third instance used to start
        Counted.live -= 1

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        return Pong(n=msg.n)


async def test_never_more_than_max_sessions_instances_are_live_at_once() -> None:
    Counted.live = Counted.peak = 0
    async with LocalRuntime(default_timeout=10.0) as rt:
        await rt.register(AgentSpec("counted", new(Counted), max_sessions=2, idle_timeout=None))
        for i in range(8):
            reply = await rt.ask(Address("counted", f"s{i}"), Ping(n=i), timeout=5)
            assert reply == Pong(n=i)
            assert Counted.live <= 2
        assert Counted.peak == 2
    assert Counted.live == 0


async def test_concurrent_new_sessions_wait_for_evicted_instances_to_stop() -> None:
    Counted.live = Counted.peak = 0
    async with LocalRuntime(default_timeout=10.0) as rt:
        await rt.register(AgentSpec("counted", new(Counted), max_sessions=2, idle_timeout=None))
        await rt.ask(Address("counted", "a"), Ping(n=0), timeout=5)
        await rt.ask(Address("counted", "b"), Ping(n=0), timeout=5)
        # Two new sessions at once: each evicts one idle session and must wait for its stop.
        replies = await asyncio.gather(
            rt.ask(Address("counted", "c"), Ping(n=1), timeout=5),
            rt.ask(Address("counted", "d"), Ping(n=2), timeout=5),
        )
        assert replies == [Pong(n=1), Pong(n=2)]
        assert Counted.peak <= 2


async def test_a_session_passivated_while_idle_holds_its_slot_until_it_has_stopped() -> None:
    Counted.live = Counted.peak = 0
    async with LocalRuntime(default_timeout=10.0) as rt:
        await rt.register(AgentSpec("counted", new(Counted), max_sessions=1, idle_timeout=0.1))
        await rt.ask(Address("counted", "a"), Ping(n=0), timeout=5)
        for _ in range(40):  # wait until the sweeper has begun passivating it
            if not rt.supervisor("counted").sessions:
                break
            await asyncio.sleep(0.02)
        assert await rt.ask(Address("counted", "b"), Ping(n=1), timeout=5) == Pong(n=1)
        assert Counted.peak == 1


class Echo(Actor):
    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        return Pong(n=msg.n)


async def test_a_spec_on_two_runtimes_stays_usable_when_one_of_them_stops() -> None:
    spec = AgentSpec("echo", new(Echo))
    first = await LocalRuntime(name="first").__aenter__()
    async with LocalRuntime(name="second") as second:
        await first.register(spec)
        await second.register(spec)
        assert spec.runtime is second and spec.runtimes == (first, second)
        await first.stop()
        assert spec.runtime is second
        reply = await spec.run(Ping(n=3).encode(), session_id="s1", timeout=5)
        assert Pong.decode(reply) == Pong(n=3)
    assert spec.runtime is None
    with pytest.raises(RuntimeNotStarted):
        await spec.run(Ping(n=1).encode(), timeout=1)


async def test_spec_run_uses_the_most_recently_registered_runtime_still_serving_it() -> None:
    spec = AgentSpec("echo", new(Echo))
    async with LocalRuntime(name="a") as a, LocalRuntime(name="b") as b:
        await b.register(spec)
        await a.register(spec)
        assert spec.runtime is a
        await spec.run(Ping(n=1).encode(), session_id="s1", timeout=5)
        assert "s1" in a.supervisor("echo").sessions and not b.supervisor("echo").sessions
        await a.deregister("echo")
        assert spec.runtime is b
        await spec.run(Ping(n=1).encode(), session_id="s2", timeout=5)
        assert "s2" in b.supervisor("echo").sessions


class SlottedEcho(Actor):
    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = 0

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        self.seen += 1
        assert self.address == ctx.address
        return Pong(n=self.seen)


class SlottedTeam(Supervisor):
    __slots__ = ("booted",)

    def __init__(self) -> None:
        super().__init__(children=[ChildSpec("a", new(SlottedEcho))])
        self.booted = False

    async def started(self) -> None:
        await super().started()
        self.booted = True


class SlottedRelay(Pattern):
    """A minimal pattern: asks its only step and passes the reply on."""

    __slots__ = ("relayed",)

    def __init__(self) -> None:
        super().__init__([AgentSpec("inner", new(SlottedEcho))])
        self.relayed = 0

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        self.relayed += 1
        reply = await self.ask_step("inner", msg, ctx)
        assert isinstance(reply, Pong)
        return reply


class SlottedSequential(Sequential):
    __slots__ = ()


def _has_no_dict(obj: object) -> bool:
    return not hasattr(obj, "__dict__")


async def test_a_slotted_supervisor_starts_its_children_and_serves_them(runtime: LocalRuntime) -> None:
    assert _has_no_dict(SlottedTeam()) and _has_no_dict(SlottedEcho())
    await runtime.register(AgentSpec("team", new(SlottedTeam)))
    assert await runtime.ask(Address("team.a", "s1"), Ping(n=0), timeout=5) == Pong(n=1)
    assert await runtime.ask(Address("team.a", "s1"), Ping(n=0), timeout=5) == Pong(n=2)
    tree = await runtime.tree()
    assert "team.a" in str(tree.to_dict())


async def test_a_slotted_pattern_subclass_supervises_and_asks_its_inline_step(runtime: LocalRuntime) -> None:
    assert _has_no_dict(SlottedRelay())
    await runtime.register(AgentSpec("relay", new(SlottedRelay)))
    assert await runtime.ask(Address("relay", "s1"), Ping(n=0), timeout=5) == Pong(n=1)
    assert await runtime.ask(Address("relay.inner", "s1"), Ping(n=0), timeout=5) == Pong(n=2)


async def test_a_slotted_subclass_of_a_library_pattern_runs(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Echo)))
    await runtime.register(AgentSpec("chain", new(SlottedSequential, "echo")))
    assert await runtime.ask(Address("chain", "s1"), Ping(n=4), timeout=5) == Pong(n=4)


def test_an_actor_outside_a_runtime_has_no_address_and_says_it_is_not_hosted() -> None:
    actor = SlottedEcho()
    assert actor.address is None
    with pytest.raises(NotHosted):
        _ = actor.cell


def test_agents_use_only_the_public_actor_api() -> None:
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent / "coagent" / "agents"
    private = re.compile(r"coagent\.actors\.\w+|\._trusted\b|_coagent_cell|\.cell\b")
    offenders = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []


def weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    return f"sunny in {city}"


async def test_a_turn_yields_typed_events_read_by_name() -> None:
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("weather", city="Paris")]),
        Reply("It is sunny.", chunks=["It is ", "sunny."]),
    ])
    agent = ChatAgent(client=model, tools=[weather])
    agent.history.append({"role": "user", "content": "weather?"})
    events = [event async for event in agent.run_turn(None, stream=True)]
    kinds = [type(event) for event in events]
    assert kinds == [ToolActions, ToolResults, TextDelta, TextDelta, TurnFinished]
    actions, results, final = events[0], events[1], events[-1]
    assert isinstance(actions, ToolActions) and actions.turn == 1
    assert actions.response.tool_calls[0].name == "weather"
    assert isinstance(results, ToolResults) and results.results[0].content == "sunny in Paris"
    assert isinstance(final, TurnFinished)
    assert (final.text, final.value, final.turn) == ("It is sunny.", None, 2)
    assert final.usage.total_tokens > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        final.text = "changed"  # type: ignore[misc]


def test_cell_status_is_an_enum_and_decisions_are_typed() -> None:
    assert [s.value for s in CellStatus] == [
        "new", "starting", "running", "restarting", "stopping", "stopped",
    ]
    assert isinstance(DEFER, Defer) and Restart().delay == 0.0
    error = AgentStopped("x")
    assert Terminate(error).error is error



async def test_a_spec_on_two_nats_nodes_keeps_serving_when_one_node_stops(nats_server) -> None:
    import time

    from coagent.runtimes import NATSRuntime

    prefix = f"d5{time.monotonic_ns() % 10**9}"
    spec = AgentSpec("echo", new(Echo))
    a = NATSRuntime.from_servers(nats_server.url, name="d5-a", prefix=prefix, default_timeout=5)
    b = NATSRuntime.from_servers(nats_server.url, name="d5-b", prefix=prefix, default_timeout=5)
    await a.__aenter__()
    try:
        async with b:
            await a.register(spec)
            await b.register(spec)
            assert spec.runtime is b
            await b.stop()
            assert spec.runtime is a
            reply = await spec.run(Ping(n=5).encode(), session_id="s1", timeout=5)
            assert Pong.decode(reply) == Pong(n=5)
    finally:
        await a.stop()
    assert spec.runtime is None
