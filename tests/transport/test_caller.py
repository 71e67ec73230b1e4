"""The caller's side against plain nats-py responders: routes, streams in seq order, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from coagent import Address
from coagent.actors.message import RawMessage
from coagent.errors import AgentNotFound, DeadlineExceeded, TransportError
from coagent.testing import NATSServer
from coagent.transport.base import Route
from coagent.transport.deadlines import DeadlineWheel
from coagent.transport.nats.caller import Caller
from coagent.transport.nats.connection import Connection
from coagent.transport.nats.placement import Placement
from coagent.transport.subjects import Subjects
from coagent.transport.wire import KIND_ASK

RAW = RawMessage(header={"type": "Ping"}, content=b'{"n":1}')


async def _seen(caller: Caller, plain: Any) -> None:
    """Both connections flushed: the caller's next publish sees the plain subscriptions
    (nats-server 2.15 may not, right after only the subscriber's flush; see caller._settle)."""
    await plain.flush()
    await caller.conn.nc.flush()


@pytest.fixture
async def rig(nats_server: NATSServer) -> AsyncIterator[tuple[Caller, Any]]:
    """A started Caller (prefix ``c``, node ``me``) and a plain nats-py connection."""
    conn = Connection([nats_server.url], name="me")
    await conn.connect()
    subjects = Subjects("c", "me")
    caller = Caller(conn, subjects, Placement(conn, subjects, lease_ttl=15),
                    DeadlineWheel(asyncio.get_running_loop()).at)
    await caller.start()
    plain = await nats.connect(nats_server.url)
    try:
        yield caller, plain
    finally:
        caller.close()
        await plain.close()
        await conn.close()


def test_routes_go_to_the_owner_or_to_the_types_queue_group_with_the_session() -> None:
    subjects = Subjects("c", "me")
    caller = Caller(None, subjects, None, None)  # type: ignore[arg-type]
    raw = RawMessage(header={"type": "Ping", "content_type": "application/json", "lang": "fr"}, content=b"{}")
    subject, headers = caller.route(Address("echo", "s1"), raw, KIND_ASK, 0.0, None, "node-b", False)
    assert subject == "c.n.node-b.echo.s1"
    assert headers == {"type": "Ping", "lang": "fr"}
    subject, headers = caller.route(Address("echo", "s1"), raw, "stream", 0.0,
                                    Address("boss", "s9"), "", False)
    assert subject == "c.a.echo"
    assert headers == {"type": "Ping", "lang": "fr", "kind": "stream", "sender": "boss:s9", "session": "s1"}


async def test_an_ask_returns_the_reply_and_learns_the_owner(rig: tuple[Caller, Any]) -> None:
    caller, plain = rig

    async def answer(msg: Any) -> None:
        await plain.publish(msg.reply, b'{"n":2}', headers={"type": "Pong", "owner": "node-b"})

    await plain.subscribe("c.a.echo", cb=answer)
    await _seen(caller, plain)
    loop = asyncio.get_running_loop()
    reply = await caller.request(Address("echo", "s1"), RAW, KIND_ASK, loop.time() + 5, None, Route(), True)
    assert reply is not None and (reply.header, reply.content) == ({"type": "Pong"}, b'{"n":2}')
    assert caller.placement.owners[Address("echo", "s1")] == "node-b"


async def test_an_agent_type_nobody_serves_is_agent_not_found_at_once(rig: tuple[Caller, Any]) -> None:
    caller, _ = rig
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(AgentNotFound):
        await caller.request(Address("nobody", "s1"), RAW, KIND_ASK, loop.time() + 5, None, Route(), True)
    assert loop.time() - start < 1.0


async def test_a_silent_responder_is_a_deadline_and_a_cancel_to_its_node(rig: tuple[Caller, Any]) -> None:
    caller, plain = rig
    cancels: list[tuple[str, bytes]] = []

    async def ignore(msg: Any) -> None:
        return None

    async def cancelled(msg: Any) -> None:
        cancels.append((msg.subject, msg.data))

    await plain.subscribe("c.n.node-b.echo.s1", cb=ignore)
    await plain.subscribe("c.ctl.node-b.cancel", cb=cancelled)
    await _seen(caller, plain)
    loop = asyncio.get_running_loop()
    with pytest.raises(DeadlineExceeded):
        await caller.request(Address("echo", "s1"), RAW, KIND_ASK, loop.time() + 0.2, None,
                             Route("node-b"), True)
    await asyncio.sleep(0.2)
    assert len(cancels) == 1 and cancels[0][0] == "c.ctl.node-b.cancel"
    assert cancels[0][1].decode().startswith(caller.inbox + ".")


async def _stream_from(caller: Caller, plain: Any, replies: list[tuple[bytes, dict[str, str]]]) -> list[Any]:
    async def answer(msg: Any) -> None:
        for body, headers in replies:
            await plain.publish(msg.reply, body, headers=headers)

    await plain.subscribe("c.n.node-b.count.s1", cb=answer)
    await _seen(caller, plain)
    loop = asyncio.get_running_loop()
    opened = await caller.open_stream(Address("count", "s1"), RAW, loop.time() + 5, None,
                                      Route("node-b"), True, None)
    items = []
    while True:
        try:
            items.append(await opened.chan.get())
        except StopAsyncIteration:
            return items


async def test_a_stream_delivers_items_in_seq_order_until_its_end_marker(rig: tuple[Caller, Any]) -> None:
    caller, plain = rig
    items = await _stream_from(caller, plain, [
        (b'{"i":0}', {"seq": "1", "type": "Tick"}),
        (b'{"i":1}', {"seq": "2", "type": "Tick"}),
        (b"", {"seq": "3", "end": "1"}),
    ])
    assert [(i.header["type"], i.content) for i in items] == [("Tick", b'{"i":0}'), ("Tick", b'{"i":1}')]


async def test_a_gap_in_a_stream_fails_it_and_cancels_it(rig: tuple[Caller, Any]) -> None:
    caller, plain = rig
    with pytest.raises(TransportError, match="lost messages"):
        await _stream_from(caller, plain, [
            (b'{"i":0}', {"seq": "1", "type": "Tick"}),
            (b'{"i":2}', {"seq": "3", "type": "Tick"}),
        ])


async def test_a_stream_error_before_any_item_keeps_its_type(rig: tuple[Caller, Any]) -> None:
    caller, plain = rig
    with pytest.raises(AgentNotFound, match="gone"):
        await _stream_from(caller, plain, [(b'{"message": "gone"}', {"error": "agent_not_found"})])
