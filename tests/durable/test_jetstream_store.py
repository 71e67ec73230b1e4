"""The JetStream store's own promises, on a real nats-server: the dedup window, trailing
writes and their confirmation, replicated buckets' one-PubAck-per-write path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import nats
import pytest

from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.core import AgentSpec, new
from coagent.errors import StoreError
from coagent.runtimes import NATSRuntime
from coagent.store import MSG_ID_HEADER, InboxEntry
from coagent.store.jetstream import JetStreamStore
from coagent.store.jspublish import Publisher
from coagent.testing import NATSServer
from tests.durable.agents import Add, Counter, Get


def entry(session: str, msg_id: str) -> InboxEntry:
    return InboxEntry("counter", session, msg_id, header={"type": "Add"}, content=b"{}")


@pytest.fixture
async def nc(nats_server: NATSServer) -> AsyncIterator[Any]:
    client = await nats.connect(nats_server.url)
    try:
        yield client
    finally:
        await client.close()


async def test_a_retry_is_refused_for_the_dedup_window_and_accepted_after_it(nc: Any) -> None:
    store = JetStreamStore(nc, prefix="dw", dedup_window=1)
    await store.open()
    try:
        assert await store.enqueue(entry("s1", "m1"))
        await store.ack("counter", "s1", "m1")
        assert not await store.enqueue(entry("s1", "m1"))  # within the window
        assert await store.pending() == []
        await asyncio.sleep(2.5)  # the server expires the marker (per-message TTL)
        assert await store.enqueue(entry("s1", "m1"))  # an explicit window, not forever
        assert [e.msg_id for e in await store.pending()] == ["m1"]
    finally:
        await store.close()


async def test_the_markers_of_applied_ids_stay_out_of_the_pending_scans(nc: Any) -> None:
    store = JetStreamStore(nc, prefix="dm")
    await store.open()
    try:
        for i in range(50):
            assert await store.enqueue(entry(f"s{i % 5}", f"m{i}"))
        await asyncio.gather(*(store.ack("counter", f"s{i % 5}", f"m{i}") for i in range(45)))
        assert [e.msg_id for e in await store.pending("counter")] == [f"m{i}" for i in range(45, 50)]
        js = nc.jetstream()
        info = await js.stream_info("KV_dm_inbox", subjects_filter="$KV.dm_inbox.d.>")
        assert len(info.state.subjects or {}) == 45  # one marker per applied id, apart
        marker = await js.get_last_msg("KV_dm_inbox", "$KV.dm_inbox.d.counter.s0.m0")
        assert (marker.headers or {}).get("Nats-TTL") == str(24 * 3600)  # the default window
    finally:
        await store.close()


async def test_a_dead_letter_is_remembered_so_a_retry_of_it_is_refused(nc: Any) -> None:
    store = JetStreamStore(nc, prefix="dd")
    await store.open()
    try:
        e = entry("s1", "m1")
        assert await store.enqueue(e)
        await store.dead_letter(e, "RuntimeError: bad")
        assert not await store.enqueue(entry("s1", "m1"))
        assert [d.msg_id for d in await store.dead_letters()] == ["m1"]
    finally:
        await store.close()


async def test_a_retry_of_a_message_applied_long_before_is_not_applied_twice(
    nats_server: NATSServer,
) -> None:
    # The old gap: past its 64 stored applied ids a session no longer recognised an id,
    # and the inbox forgot it after 10 minutes. Now the inbox remembers it for the window,
    # also across a new instance of the session (passivated, restored from the store).
    async with NATSRuntime(nats_server.url, prefix="dg", announce=False) as rt:
        await rt.register(AgentSpec("counter", new(Counter), durable=True))
        address = Address("counter", "c1")
        first = Add(n=1).encode()
        first = RawMessage(header={**first.header, MSG_ID_HEADER: "the-first"},
                           content=first.content)
        await rt.tell(address, first)
        for _ in range(100):
            await rt.tell(address, Add(n=1))
        assert (await rt.ask(address, Get(), timeout=10)).n == 101
        assert await rt.passivate(address)
        await rt.tell(address, first)  # the sender retries its first message
        assert (await rt.ask(address, Get(), timeout=10)).n == 101


async def test_trailing_writes_of_many_sessions_are_all_stored(nc: Any) -> None:
    store = JetStreamStore(nc, prefix="dt")
    await store.open()
    try:
        assert store._trailing  # one replica: saves and acks trail the loop turn
        await asyncio.gather(*(store.enqueue(entry(f"s{i}", f"m{i}")) for i in range(300)))
        await asyncio.gather(*(store.save("counter", f"s{i}", msgspec.json.encode({"n": i}),
                                          [f"m{i}"], 1) for i in range(300)))
        await asyncio.gather(*(store.ack("counter", f"s{i}", f"m{i}") for i in range(300)))
        assert await store.pending() == []
        for i in (0, 150, 299):
            record = await store.load("counter", f"s{i}")
            assert record is not None and msgspec.json.decode(record.state) == {"n": i}
        assert len(await store.sessions("counter")) == 300
    finally:
        await store.close()


async def test_a_replicated_bucket_waits_for_the_pub_ack_of_every_write(nc: Any) -> None:
    store = JetStreamStore(nc, prefix="dr")
    await store.open()
    try:
        store._trailing = False  # what open() decides for buckets of several replicas
        assert await store.enqueue(entry("s1", "m1"))
        await store.save("counter", "s1", b'{"n":1}', ["m1"], 1)
        await store.ack("counter", "s1", "m1")
        assert await store.pending() == []
        assert not await store.enqueue(entry("s1", "m1"))
        record = await store.load("counter", "s1")
        assert record is not None and record.applied == ["m1"]
    finally:
        await store.close()


async def test_a_refused_trailing_group_fails_every_writer_in_it(nc: Any) -> None:
    pub = Publisher(nc, timeout=2.0)
    await pub.start()
    try:
        # No stream listens on these subjects: the group's one PubAck is a 503 status.
        results = await asyncio.gather(
            *(pub.trail("KV_none", [(f"nostream.{i}", b"x", {})]) for i in range(5)),
            return_exceptions=True)
        assert all(isinstance(r, StoreError) for r in results), results
    finally:
        await pub.stop()


async def test_a_publish_nobody_answers_fails_with_a_store_error_at_its_timeout(nc: Any) -> None:
    swallowed = []

    async def swallow(msg: Any) -> None:
        swallowed.append(msg.subject)

    await nc.subscribe("sink.>", cb=swallow)  # a responder that never replies
    pub = Publisher(nc, timeout=0.3)
    await pub.start()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(StoreError, match="timed out"):
            await pub.publish("sink.a", b"x")
        assert 0.25 <= loop.time() - start < 2.0
        assert swallowed == ["sink.a"]
    finally:
        await pub.stop()


async def test_a_closed_publisher_fails_its_writers_at_once(nc: Any) -> None:
    pub = Publisher(nc, timeout=5.0)
    await pub.start()
    waiting = asyncio.ensure_future(pub.trail("KV_x", [("nostream.x", b"", {})]))
    await pub.stop()  # before the loop turn's group was sent
    with pytest.raises(StoreError, match="closed"):
        await asyncio.wait_for(waiting, 1.0)
    with pytest.raises(StoreError, match="closed"):
        await pub.publish("nostream.y", b"")


def test_a_dedup_window_under_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="dedup_window"):
        JetStreamStore(object(), dedup_window=0.5)


async def test_a_nats_runtime_passes_its_dedup_window_to_its_jetstream_store(
        nats_server: NATSServer, nc: Any) -> None:
    async with NATSRuntime(nats_server.url, prefix="dwr", announce=False,
                           dedup_window=2) as rt:
        await rt.register(AgentSpec("counter", new(Counter), durable=True))
        address = Address("counter", "c1")
        raw = Add(n=1).encode()
        retried = RawMessage(header={**raw.header, MSG_ID_HEADER: "once"}, content=raw.content)
        await rt.tell(address, retried)
        assert (await rt.ask(address, Get(), timeout=10)).n == 1
        marker = await nc.jetstream().get_last_msg("KV_dwr_inbox",
                                                    "$KV.dwr_inbox.d.counter.c1.once")
        assert (marker.headers or {}).get("Nats-TTL") == "2"
        await rt.tell(address, retried)  # within the window: refused
        assert (await rt.ask(address, Get(), timeout=10)).n == 1
        await asyncio.sleep(3.5)  # the server expires the marker
        await rt.tell(address, retried)  # after it the store accepts the id again...
        # ...and the session, which still knows the id among those it applied, does not
        # apply it twice
        assert (await rt.ask(address, Get(), timeout=10)).n == 1
        for _ in range(100):  # its acknowledgement writes a new marker, with the window
            try:
                again = await nc.jetstream().get_last_msg("KV_dwr_inbox",
                                                           "$KV.dwr_inbox.d.counter.c1.once")
                break
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.05)
        assert again.seq > marker.seq and (again.headers or {}).get("Nats-TTL") == "2"


def test_a_nats_runtime_refuses_a_dedup_window_under_a_second() -> None:
    with pytest.raises(ValueError, match="dedup_window"):
        NATSRuntime("nats://127.0.0.1:1", dedup_window=0.5)
