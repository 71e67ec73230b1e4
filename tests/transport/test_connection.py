"""The connection: a bounded first connect with a typed error, and an ordered outbox."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
import pytest

from coagent.errors import TransportError
from coagent.testing import NATSServer
from coagent.transport.nats.connection import Connection


async def test_no_server_is_one_typed_error_within_the_connect_deadline() -> None:
    conn = Connection(["nats://127.0.0.1:1"], name="lonely", connect_deadline=1.0)
    start = time.monotonic()
    with pytest.raises(TransportError, match="cannot connect to NATS"):
        await conn.connect()
    assert time.monotonic() - start < 3.0
    await conn.close()  # closing a connection that never opened is harmless


async def test_the_outbox_sends_in_order_and_close_sends_what_is_left(nats_server: NATSServer) -> None:
    spy = await nats.connect(nats_server.url)
    got: list[bytes] = []

    async def record(msg: Any) -> None:
        got.append(msg.data)

    await spy.subscribe("outbox.test", cb=record)
    await spy.flush()
    conn = Connection([nats_server.url], name="sender")
    await conn.connect()
    for i in range(200):
        conn.publish("outbox.test", str(i).encode(), None)  # from sync code, as callbacks do
    await conn.close()
    deadline = time.monotonic() + 5
    while len(got) < 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await spy.close()
    assert got == [str(i).encode() for i in range(200)]


async def test_publish_now_reports_a_payload_over_the_server_limit(nats_server: NATSServer) -> None:
    conn = Connection([nats_server.url], name="big")
    await conn.connect()
    try:
        assert await conn.publish_now("big.test", b"x" * 10, None)
        assert not await conn.publish_now("big.test", b"x" * 2_000_000, None)
    finally:
        await conn.close()
