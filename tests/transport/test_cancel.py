"""Cancels go to the node serving the call, and reach the owner through a relay."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from coagent import Address
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from tests.kit import Ping, Sleep


async def _spy(url: str, prefix: str) -> tuple[nats.NATS, list[str]]:
    seen: list[str] = []
    nc = await nats.connect(url)

    async def record(msg) -> None:  # type: ignore[no-untyped-def]
        seen.append(msg.subject)

    await nc.subscribe(f"{prefix}.sys.cancel", cb=record)
    await nc.subscribe(f"{prefix}.ctl.*.cancel", cb=record)
    await nc.flush()
    return nc, seen


async def test_a_caller_that_knows_the_owner_cancels_on_the_owners_subject_only(
    trio: tuple[NATSRuntime, NATSRuntime, NATSRuntime], nats_server: NATSServer,
) -> None:
    a, b, client = trio
    addr = Address("echo", "known")
    await client.ask(addr, Ping())  # the reply names the owner
    owner = a if "known" in a.sessions_of("echo") else b
    spy, seen = await _spy(nats_server.url, a.subjects.prefix)
    try:
        task = asyncio.ensure_future(client.ask(addr, Sleep(seconds=30)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        start = time.monotonic()
        assert (await client.ask(addr, Ping(), timeout=3)).n == 2  # the handler was cancelled
        assert time.monotonic() - start < 1.0
        assert seen == [f"{a.subjects.prefix}.ctl.{owner.name}.cancel"]
    finally:
        await spy.close()


async def test_giving_up_on_a_relayed_first_message_cancels_the_handler_on_the_owner(
    trio: tuple[NATSRuntime, NATSRuntime, NATSRuntime],
) -> None:
    a, b, client = trio
    addr = Address("echo", "relayed")
    assert (await a.ask(addr, Ping())).n == 1  # a claims and serves the session
    # Only b takes first messages now, so the client's call is relayed by b to a.
    assert a.transport.serving is not None
    await a.transport.serving.withdraw(["echo"])
    task = asyncio.ensure_future(client.ask(addr, Sleep(seconds=30)))  # no timeout given
    await asyncio.sleep(0.4)
    assert b.transport.serving is not None and b.transport.serving.relays  # in flight via b
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    start = time.monotonic()
    assert (await a.ask(addr, Ping(), timeout=3)).n == 2  # the sleep on a was cancelled
    assert time.monotonic() - start < 1.0
    assert not b.transport.serving.relays
