"""One deadline mechanism: ctx.remaining() and expiry are the same on every transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new
from coagent.errors import DeadlineExceeded
from coagent.runtimes import LocalRuntime, NATSRuntime
from coagent.testing import NATSServer
from coagent.transport.deadlines import DeadlineWheel
from tests.transport.conftest import fresh_prefix

DEFAULT = 7.0


class DlAsk(Message):
    pass


class DlTell(Message):
    pass


class DlStream(Message):
    pass


class DlLeft(Message):
    seconds: float = -1.0


class DlSleep(Message):
    seconds: float = 0.0


class Clock(Actor):
    """Records ``ctx.remaining()`` of each call kind."""

    def __init__(self) -> None:
        self.told: float | None = -1.0

    @handler
    async def ask(self, msg: DlAsk, ctx: Context) -> DlLeft:
        left = ctx.remaining()
        return DlLeft(seconds=-1.0 if left is None else left)

    @handler
    async def tell(self, msg: DlTell, ctx: Context) -> None:
        self.told = ctx.remaining()

    @handler
    async def stream(self, msg: DlStream, ctx: Context) -> AsyncIterator[DlLeft]:
        left = ctx.remaining()
        yield DlLeft(seconds=-1.0 if left is None else left)

    @handler
    async def told_left(self, msg: DlLeft, ctx: Context) -> DlLeft:
        return DlLeft(seconds=-1.0 if self.told is None else self.told)

    @handler
    async def sleep(self, msg: DlSleep, ctx: Context) -> DlLeft:
        await asyncio.sleep(msg.seconds)
        return DlLeft(seconds=0.0)


@pytest.fixture(params=["local", "nats"])
async def caller(request: Any, nats_server: NATSServer) -> AsyncIterator[Any]:
    """A runtime whose calls to ``clock`` go in-process (local) or to another node (nats)."""
    spec = AgentSpec("clock", new(Clock))
    if request.param == "local":
        async with LocalRuntime(default_timeout=DEFAULT) as rt:
            await rt.register(spec)
            yield rt
        return
    prefix = fresh_prefix()
    node = NATSRuntime(nats_server.url, name=f"{prefix}-n", prefix=prefix, default_timeout=DEFAULT)
    client = NATSRuntime(nats_server.url, prefix=prefix, announce=False, default_timeout=DEFAULT)
    async with node, client:
        await node.register(spec)
        yield client


async def test_an_ask_sees_the_callers_deadline(caller: Any) -> None:
    left = (await caller.ask(Address("clock", "s"), DlAsk(), timeout=2.0)).seconds
    assert 1.5 < left <= 2.0


async def test_an_ask_without_a_timeout_sees_the_default_deadline(caller: Any) -> None:
    left = (await caller.ask(Address("clock", "s"), DlAsk())).seconds
    assert DEFAULT - 0.5 < left <= DEFAULT


async def test_a_tell_carries_its_deadline_too(caller: Any) -> None:
    addr = Address("clock", "t")
    await caller.tell(addr, DlTell(), timeout=3.0)
    left = (await caller.ask(addr, DlLeft())).seconds
    assert 2.5 < left <= 3.0


async def test_a_stream_sees_the_callers_deadline(caller: Any) -> None:
    items = [item async for item in caller.stream(Address("clock", "st"), DlStream(), timeout=2.0)]
    assert len(items) == 1 and 1.5 < items[0].seconds <= 2.0


async def test_a_call_past_its_deadline_fails_and_the_actor_serves_the_next_one_at_once(caller: Any) -> None:
    addr = Address("clock", "slow")
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await caller.ask(addr, DlSleep(seconds=30), timeout=0.3)
    assert time.monotonic() - start < 1.0
    start = time.monotonic()
    assert (await caller.ask(addr, DlAsk(), timeout=3)).seconds > 2
    assert time.monotonic() - start < 1.0


async def test_a_stream_past_its_deadline_fails(caller: Any) -> None:
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        async for _ in caller.stream(Address("clock", "s2"), DlSleep(seconds=30), timeout=0.3):
            pass
    assert time.monotonic() - start < 1.0


async def test_the_wheel_fires_each_deadline_once_within_a_tick_and_never_a_cancelled_one() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, tick=0.01, precise_within=0.0)  # slots only
    fired: list[tuple[str, float]] = []
    start = loop.time()
    for name, delay in (("b", 0.05), ("a", 0.02), ("c", 0.08)):
        wheel.at(start + delay, lambda n: fired.append((n, loop.time() - start)), name)
    cancelled = wheel.at(start + 0.03, lambda: fired.append(("x", 0.0)))
    cancelled.cancel()
    cancelled.cancel()  # idempotent
    await asyncio.sleep(0.15)
    assert [name for name, _ in fired] == ["a", "b", "c"]
    for (_, when), due in zip(fired, (0.02, 0.05, 0.08), strict=True):
        assert due <= when < due + 0.06  # a tick late at most, plus a loaded machine's slack
    assert len(wheel) == 0


async def test_a_near_deadline_fires_on_time_ahead_of_a_handler_timing_itself_out() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop)
    order: list[str] = []
    deadline = loop.time() + 0.05
    wheel.at(deadline, order.append, "caller")
    await asyncio.sleep(deadline - loop.time())  # a handler sleeping exactly ctx.remaining()
    order.append("handler")
    assert order == ["caller", "handler"]
