"""Regressions for the defects a review found (issue 9, defects 4-7); each failed before its fix."""

from __future__ import annotations

import asyncio

import pytest

from coagent import Actor, Address, Context, handler
from coagent.core import AgentSpec, new
from coagent.errors import RuntimeNotStarted
from coagent.runtimes import LocalRuntime
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
