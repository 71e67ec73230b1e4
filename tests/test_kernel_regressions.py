"""Races and corner cases found in review; each test failed before its fix."""

from __future__ import annotations

import asyncio
import time

import pytest

from coagent import Actor, Address, Context, RawMessage, handler
from coagent.core import AgentSpec, ChildSpec, Supervisor, new
from coagent.errors import AgentCrashed, CoagentError, DeadlineExceeded
from coagent.runtimes import LocalRuntime
from tests.kit import Crash, Note, Ping, Pong, Sleep, Stop


class SlowStart(Actor):
    created = 0
    stopped_count = 0

    def __init__(self) -> None:
        SlowStart.created += 1
        self.n = 0

    async def started(self) -> None:
        await asyncio.sleep(0.05)

    async def stopped(self) -> None:
        SlowStart.stopped_count += 1

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        self.n += 1
        return Pong(n=self.n)

    @handler
    async def crash(self, msg: Crash, ctx: Context) -> None:
        raise RuntimeError(msg.text)


async def test_mail_during_a_supervised_restart_does_not_start_a_second_instance(runtime: LocalRuntime) -> None:
    SlowStart.created = SlowStart.stopped_count = 0
    await runtime.register(AgentSpec("team", new(Supervisor, children=[ChildSpec("a", new(SlowStart))])))
    addr = Address("team.a", "s")
    await runtime.ask(addr, Ping())
    with pytest.raises(AgentCrashed):
        await runtime.ask(addr, Crash())
    await asyncio.sleep(0.01)  # the restart is now inside started()
    assert (await runtime.ask(addr, Ping(), timeout=2)).n == 1
    await runtime.deregister("team")
    assert SlowStart.created == 2 and SlowStart.stopped_count == 2  # none leaked


async def test_a_foreign_cancelled_error_is_a_crash_not_a_hang(runtime: LocalRuntime) -> None:
    class Waits(Actor):
        @handler
        async def sleep(self, msg: Sleep, ctx: Context) -> Pong:
            other = asyncio.ensure_future(asyncio.sleep(10))
            asyncio.get_running_loop().call_later(0.02, other.cancel)
            await other  # raises CancelledError, though nobody cancelled this handler
            return Pong()

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong(n=7)

    await runtime.register(AgentSpec("w", new(Waits), backoff_min=0.0))
    start = time.monotonic()
    with pytest.raises(AgentCrashed, match="CancelledError"):
        await runtime.ask(Address("w", "s"), Sleep(), timeout=3)
    assert time.monotonic() - start < 0.5
    assert (await runtime.ask(Address("w", "s"), Ping(), timeout=1)).n == 7


class Refusal(CoagentError):
    code = "tests_refusal"


async def test_a_cancellation_turned_into_an_error_does_not_disable_later_cancels(runtime: LocalRuntime) -> None:
    class Converts(Actor):
        @handler
        async def sleep(self, msg: Sleep, ctx: Context) -> Pong:
            try:
                await asyncio.sleep(msg.seconds)
            except asyncio.CancelledError:
                raise Refusal("interrupted") from None
            return Pong()

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong(n=1)

    await runtime.register(AgentSpec("c", new(Converts)))
    addr = Address("c", "s")
    for _ in range(2):
        with pytest.raises(DeadlineExceeded):
            await runtime.ask(addr, Sleep(seconds=5), timeout=0.1)
        start = time.monotonic()
        assert (await runtime.ask(addr, Ping(), timeout=1)).n == 1
        assert time.monotonic() - start < 0.3  # the sleeping handler was cancelled at its deadline


async def test_a_woken_sender_that_leaves_passes_its_turn_on(runtime: LocalRuntime) -> None:
    gate = asyncio.Event()

    class Gated(Actor):
        @handler
        async def note(self, msg: Note, ctx: Context) -> None:
            await gate.wait()

    await runtime.register(AgentSpec("g", new(Gated), mailbox_size=1))
    addr = Address("g", "s")
    await runtime.tell(addr, Note(text="running"))
    await asyncio.sleep(0.01)
    await runtime.tell(addr, Note(text="queued"))  # the mailbox is now full
    first = asyncio.ensure_future(runtime.tell(addr, Note(text="w1"), timeout=5))
    second = asyncio.ensure_future(runtime.tell(addr, Note(text="w2"), timeout=1))
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.sleep(0)  # the first waiter is woken...
    first.cancel()  # ...and leaves before it can use the room
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)  # the second one gets the room instead of MailboxFull


async def test_a_subclass_message_dispatches_the_same_typed_and_raw(runtime: LocalRuntime) -> None:
    class PingPlus(Ping):
        pass

    class Base(Actor):
        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong(n=msg.n)

    await runtime.register(AgentSpec("b", new(Base)))
    assert (await runtime.ask(Address("b", "s"), PingPlus(n=4))).n == 4
    raw = await runtime.ask(Address("b", "s"), PingPlus(n=5).encode())
    assert isinstance(raw, RawMessage) and Pong.decode(raw).n == 5


async def test_an_override_without_the_decorator_still_replaces_the_handler(runtime: LocalRuntime) -> None:
    class Parent(Actor):
        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong(n=1)

    class Child(Parent):
        async def ping(self, msg: Ping, ctx: Context) -> Pong:  # type: ignore[override]
            return Pong(n=2)

    await runtime.register(AgentSpec("child", new(Child)))
    assert (await runtime.ask(Address("child", "s"), Ping())).n == 2


async def test_mail_reaching_an_ending_session_goes_to_its_next_actor(runtime: LocalRuntime) -> None:


    class SlowGoodbye(Actor):
        def __init__(self) -> None:
            self.n = 0

        async def stopped(self) -> None:
            await asyncio.sleep(0.2)

        @handler
        async def stop(self, msg: Stop, ctx: Context) -> None:
            ctx.stop()

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            self.n += 1
            return Pong(n=self.n)

    await runtime.register(AgentSpec("bye", new(SlowGoodbye)))
    addr = Address("bye", "s")
    assert (await runtime.ask(addr, Ping())).n == 1
    await runtime.ask(addr, Stop())
    assert (await runtime.ask(addr, Ping(), timeout=2)).n == 1  # a fresh session, not AgentStopped


async def test_passivating_a_supervisor_session_does_not_fail_mail_to_its_children(runtime: LocalRuntime) -> None:
    class SlowStop(Actor):
        async def stopped(self) -> None:
            await asyncio.sleep(0.2)

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong(n=1)

    await runtime.register(AgentSpec("team", new(Supervisor, children=[
        ChildSpec("a", new(SlowStop)), ChildSpec("b", new(SlowStop)),
    ])))
    addr = Address("team.b", "s")
    await runtime.ask(addr, Ping())
    passivating = asyncio.ensure_future(runtime.passivate(Address("team", "s")))
    await asyncio.sleep(0.01)  # team.a is stopping (reverse order: b is already gone or going)
    assert (await runtime.ask(addr, Ping(), timeout=3)).n == 1
    assert await passivating
