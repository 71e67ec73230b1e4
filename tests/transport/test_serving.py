"""The serving side: served calls are tracked until answered, expired by their own deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats

from coagent import Address
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from tests.kit import Count, Crash, Ping


async def test_answered_calls_leave_no_tracking_behind(
    trio: tuple[NATSRuntime, NATSRuntime, NATSRuntime],
) -> None:
    a, b, client = trio
    addrs = [Address("echo", f"s{i}") for i in range(20)]
    await asyncio.gather(*(client.ask(addr, Ping()) for addr in addrs for _ in range(5)))
    for addr in addrs[:5]:
        assert [t.i async for t in client.stream(addr, Count(n=3))] == [0, 1, 2]
        try:
            await client.ask(addr, Crash(text="boom"))
        except Exception:
            pass
    for node in (a, b):
        assert node.transport.serving is not None
        assert node.transport.serving.calls == {}
        assert node.transport.serving.relays == {}


async def test_a_served_call_past_the_deadline_in_its_header_is_answered_with_deadline_exceeded(
    trio: tuple[NATSRuntime, NATSRuntime, NATSRuntime], nats_server: NATSServer,
) -> None:
    a, b, _ = trio
    nc = await nats.connect(nats_server.url)
    try:
        prefix = a.subjects.prefix
        first = await nc.request(f"{prefix}.a.echo", b"{}", timeout=5, headers={"type": "Ping", "session": "late"})
        owner = first.headers["owner"]
        start = time.monotonic()
        reply: Any = await nc.request(f"{prefix}.n.{owner}.echo.late", b'{"seconds": 30}', timeout=5,
                                      headers={"type": "Sleep", "timeout": "0.2"})
        assert reply.headers["error"] == "deadline_exceeded"
        assert time.monotonic() - start < 1.0
        serving = (a if owner == a.name else b).transport.serving
        assert serving is not None and serving.calls == {}
        again = await nc.request(f"{prefix}.n.{owner}.echo.late", b"{}", timeout=5, headers={"type": "Ping"})
        assert again.data == b'{"n":2}'  # the actor moved on at once
    finally:
        await nc.close()
