"""Leaving a remote stream early cancels its handler on the serving node, whatever the form."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from tests.transport.conftest import fresh_prefix

#: Session -> when its handler saw its cancellation (monotonic clock).
CANCELLED: dict[str, float] = {}


class BreakTicks(Message):
    n: int = 10_000


class BreakTick(Message):
    i: int = 0


class Ticker(Actor):
    @handler
    async def ticks(self, msg: BreakTicks, ctx: Context) -> AsyncIterator[BreakTick]:
        try:
            for i in range(msg.n):
                await asyncio.sleep(0.02)
                yield BreakTick(i=i)
        except asyncio.CancelledError:
            CANCELLED[ctx.address.session] = time.monotonic()
            raise


# Each returns the stream, which the test holds until the cancellation is seen: dropping
# it (and ``ReplyStream.__del__``) can be what cancels.

async def _leave_with_async_with(client: NATSRuntime, addr: Address) -> object:
    async with client.stream(addr, BreakTicks(), timeout=60) as ticks:
        async for tick in ticks:
            if tick.i == 2:
                break
    return ticks


async def _leave_with_aclosing(client: NATSRuntime, addr: Address) -> object:
    async with contextlib.aclosing(client.stream(addr, BreakTicks(), timeout=60)) as ticks:
        async for tick in ticks:
            if tick.i == 2:
                break
    return ticks


async def _leave_with_a_bare_break_while_holding_the_stream(client: NATSRuntime, addr: Address) -> object:
    ticks = client.stream(addr, BreakTicks(), timeout=60)
    async for tick in ticks:
        if tick.i == 2:
            break
    return ticks


@pytest.mark.parametrize("leave", [
    _leave_with_async_with, _leave_with_aclosing, _leave_with_a_bare_break_while_holding_the_stream,
])
async def test_leaving_a_remote_stream_early_cancels_the_handler_on_the_serving_node(
        nats_server: NATSServer, leave) -> None:  # type: ignore[no-untyped-def]
    prefix = fresh_prefix()
    server = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix)
    client = NATSRuntime(nats_server.url, prefix=prefix, announce=False)
    async with server, client:
        await server.register(AgentSpec("ticker", new(Ticker)))
        session = f"{leave.__name__}-{prefix}"
        held = await leave(client, Address("ticker", session))
        left = time.monotonic()
        deadline = left + 5.0
        while session not in CANCELLED:
            assert time.monotonic() < deadline, "the handler on the serving node was not cancelled"
            await asyncio.sleep(0.01)
        assert CANCELLED[session] - left < 2.0  # promptly, not at the 60 s deadline
        assert held is not None  # still referenced: not garbage-collected


async def test_a_stream_left_with_break_ends_at_once_when_iterated_again(nats_server: NATSServer) -> None:
    prefix = fresh_prefix()
    server = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix)
    client = NATSRuntime(nats_server.url, prefix=prefix, announce=False)
    async with server, client:
        await server.register(AgentSpec("ticker", new(Ticker)))
        ticks = client.stream(Address("ticker", f"again-{prefix}"), BreakTicks(), timeout=60)
        async for _tick in ticks:
            break
        await asyncio.sleep(0)  # the loop's iterator is finalized
        async with asyncio.timeout(5):
            assert [tick async for tick in ticks] == []
