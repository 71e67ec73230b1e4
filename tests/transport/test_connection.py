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


async def test_the_fast_publish_writes_the_same_bytes_as_nats_py(nats_server: NATSServer) -> None:
    conn = Connection([nats_server.url], name="bytes")
    nc = await conn.connect()
    try:
        assert conn._fast  # this nats-py has the internals the fast path writes to
        cases: list[tuple[str, bytes, str, dict[str, str] | None]] = [
            ("a.b", b"{}", "", None),
            ("a.b", b'{"n":1}', "_INBOX.x.y", None),
            ("a.b", b"body", "_INBOX.x.y", {"type": "Ping"}),
            ("a.b", b"", "", {"type": "Pong", "owner": "node-1", " seq ": " 2 "}),
            ("a.b", b"x", "r", {"type": "line\r\nbreak", "": "skipped"}),
        ]
        for subject, body, reply, headers in cases:
            # What nc.publish would queue, built by nats-py's own code path ...
            expected: list[bytes] = []
            real_send = nc._send_command

            async def capture(cmd: bytes, priority: bool = False, into: list[bytes] = expected) -> None:
                into.append(cmd)

            nc._send_command = capture
            try:
                await nc.publish(subject, body, reply=reply, headers=headers)
            finally:
                nc._send_command = real_send
            # ... and what the fast path queues.
            await nc.flush()
            before = len(nc._pending)
            await conn.send(nc, subject, body, reply, headers)
            got = nc._pending[before:] if len(nc._pending) > before else None
            assert got is not None, "the flusher ran before we could look"
            # nats-py writes two spaces where there is no reply subject; the server takes either.
            assert [c.replace(b"  ", b" ") for c in got] == [c.replace(b"  ", b" ") for c in expected]
        from nats.errors import BadHeaderError

        with pytest.raises(BadHeaderError):
            await conn.send(nc, "a.b", b"", "", {"bad key": "v"})
    finally:
        await conn.close()


async def test_the_fast_publish_delivers_headers_and_replies_a_subscriber_can_read(
    nats_server: NATSServer,
) -> None:
    spy = await nats.connect(nats_server.url)
    got: list[Any] = []

    async def record(msg: Any) -> None:
        got.append(msg)

    await spy.subscribe("fast.>", cb=record)
    await spy.flush()
    conn = Connection([nats_server.url], name="fast")
    nc = await conn.connect()
    try:
        await conn.send(nc, "fast.one", b"1", "", {"type": "Ping", "timeout": "1.500"})
        await conn.send(nc, "fast.two", b"2", "_INBOX.back", None)
        await nc.flush()
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        one, two = sorted(got, key=lambda m: m.subject)
        assert (one.subject, one.data, one.headers) == ("fast.one", b"1", {"type": "Ping", "timeout": "1.500"})
        assert (two.subject, two.data, two.reply, two.headers) == ("fast.two", b"2", "_INBOX.back", None)
    finally:
        await conn.close()
        await spy.close()
