"""Regressions for the defects a review found (issue 9, defects 4-7); each failed before its fix."""

from __future__ import annotations

import asyncio

from coagent import Actor, Address, Context, handler
from coagent.core import AgentSpec, new
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
