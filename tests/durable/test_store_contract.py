"""The StateStore contract: every store (SQLite, JetStream) passes the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from coagent.errors import StoreError
from coagent.store import InboxEntry, StateStore
from coagent.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "jetstream"])
async def store(request: Any, tmp_path: Path) -> AsyncIterator[StateStore]:
    if request.param == "sqlite":
        s: StateStore = SQLiteStore(tmp_path / "contract.db")
        await s.open()
        try:
            yield s
        finally:
            await s.close()
        return
    import nats

    from coagent.store.jetstream import JetStreamStore

    server = request.getfixturevalue("nats_server")
    nc = await nats.connect(server.url)
    s = JetStreamStore(nc, prefix=f"t{abs(hash(request.node.name)) % 10**8}")
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        await nc.close()


def entry(session: str, msg_id: str, body: bytes = b"{}") -> InboxEntry:
    return InboxEntry("counter", session, msg_id, header={"type": "Add"}, content=body)


async def test_a_session_without_a_record_loads_as_none(store: StateStore) -> None:
    assert await store.load("counter", "nobody") is None


async def test_save_writes_state_and_applied_ids_together(store: StateStore) -> None:
    await store.save("counter", "s1", b'{"n":1}', ["m1"], 1)
    await store.save("counter", "s1", b'{"n":2}', ["m1", "m2"], 2)
    record = await store.load("counter", "s1")
    assert record is not None
    assert (record.state, record.applied, record.applied_count) == (b'{"n":2}', ["m1", "m2"], 2)
    assert record.updated > 0


async def test_enqueue_refuses_a_message_id_it_has_seen(store: StateStore) -> None:
    assert await store.enqueue(entry("s1", "m1", b"a"))
    assert not await store.enqueue(entry("s1", "m1", b"b"))
    await store.ack("counter", "s1", "m1")
    assert not await store.enqueue(entry("s1", "m1", b"c"))  # seen even after its ack
    assert await store.pending() == []


async def test_pending_lists_unacknowledged_messages_oldest_first(store: StateStore) -> None:
    for i in range(5):
        assert await store.enqueue(entry("s1" if i % 2 else "s2", f"m{i}", str(i).encode()))
    await store.ack("counter", "s2", "m2")
    pending = await store.pending("counter")
    assert [e.msg_id for e in pending] == ["m0", "m1", "m3", "m4"]
    assert [e.content for e in pending] == [b"0", b"1", b"3", b"4"]
    assert pending[0].header == {"type": "Add"}
    assert [e.msg_id for e in await store.pending("counter", "s1")] == ["m1", "m3"]
    assert await store.pending("other") == []
    assert await store.pending(older_than=60) == []


async def test_redelivered_counts_deliveries_of_pending_messages(store: StateStore) -> None:
    await store.enqueue(entry("s1", "m1"))
    assert await store.redelivered("counter", "s1", "m1") == 1
    assert await store.redelivered("counter", "s1", "m1") == 2
    assert [e.deliveries for e in await store.pending()] == [2]
    await store.ack("counter", "s1", "m1")
    assert await store.redelivered("counter", "s1", "m1") == 0


async def test_save_keeps_the_reply_of_the_last_ask(store: StateStore) -> None:
    await store.save("counter", "s1", b"{}", ["a1"], 1, reply_id="a1", reply=b"r")
    record = await store.load("counter", "s1")
    assert record is not None and (record.reply_id, record.reply) == ("a1", b"r")


async def test_touch_holds_off_redelivery(store: StateStore) -> None:
    await store.enqueue(entry("s1", "m1"))
    await asyncio.sleep(0.3)
    assert [e.msg_id for e in await store.pending(older_than=0.2)] == ["m1"]
    await store.touch("counter", "s1", "m1")
    assert await store.pending(older_than=0.2) == []
    await store.touch("counter", "s1", "gone")  # an unknown id is not an error


async def test_dead_letter_moves_a_message_out_of_the_inbox(store: StateStore) -> None:
    e = entry("s1", "m1", b"payload")
    await store.enqueue(e)
    e.deliveries = 3
    await store.dead_letter(e, "RuntimeError: bad")
    assert await store.pending() == []
    [dead] = await store.dead_letters()
    assert (dead.msg_id, dead.content, dead.error, dead.deliveries) == (
        "m1", b"payload", "RuntimeError: bad", 3)
    assert await store.dead_letters("other") == []


async def test_sessions_lists_size_update_and_counts(store: StateStore) -> None:
    await store.save("counter", "a", b"12345", ["m1"], 1)
    await store.save("chat", "b", b"xy", [], 4)
    await store.enqueue(entry("a", "m2"))
    infos = {(i.type, i.session): i for i in await store.sessions()}
    assert set(infos) == {("counter", "a"), ("chat", "b")}
    assert (infos["counter", "a"].size, infos["counter", "a"].applied_count) == (5, 1)
    assert infos["counter", "a"].pending == 1
    assert infos["chat", "b"].applied_count == 4
    assert [i.session for i in await store.sessions("chat")] == ["b"]


async def test_delete_removes_a_session_and_its_pending_messages(store: StateStore) -> None:
    await store.save("counter", "a", b"1", [], 1)
    await store.enqueue(entry("a", "m1"))
    assert await store.delete("counter", "a")
    assert await store.load("counter", "a") is None
    assert await store.pending() == []
    assert not await store.delete("counter", "a")


async def test_concurrent_writes_are_all_kept(store: StateStore) -> None:
    await asyncio.gather(*(store.enqueue(entry(f"s{i % 7}", f"m{i}")) for i in range(200)))
    await asyncio.gather(*(store.save("counter", f"s{i}", b"x", [f"m{i}"], 1) for i in range(50)))
    assert len(await store.pending()) == 200
    assert len(await store.sessions()) == 50


async def test_concurrent_retries_are_refused_and_new_ids_accepted(store: StateStore) -> None:
    assert await store.enqueue(entry("s1", "old"))
    # Sent at once (one group commit on SQLite): new ids, a retry of a stored id, and one
    # id twice; only the first copy of each new id is accepted.
    ids = ["n1", "old", "n2", "n2", "n3", "old"]
    accepted = await asyncio.gather(*(store.enqueue(entry("s1", i)) for i in ids))
    assert accepted == [True, False, True, False, True, False]
    assert [e.msg_id for e in await store.pending()] == ["old", "n1", "n2", "n3"]


async def test_concurrent_saves_and_acks_of_many_sessions_are_all_kept(
        store: StateStore) -> None:
    for i in range(20):
        assert await store.enqueue(entry(f"s{i}", f"m{i}"))
    await asyncio.gather(*(store.save("counter", f"s{i}", f"{i}".encode(), [f"m{i}"], i + 1,
                                      ack=[f"m{i}"] if store.atomic_ack else ())
                           for i in range(20)))
    if not store.atomic_ack:
        await asyncio.gather(*(store.ack("counter", f"s{i}", f"m{i}") for i in range(20)))
    for i in range(20):
        record = await store.load("counter", f"s{i}")
        assert record is not None
        assert (record.state, record.applied, record.applied_count) == (
            f"{i}".encode(), [f"m{i}"], i + 1)
    assert await store.pending() == []


async def test_sqlite_writes_queued_around_a_delete_keep_their_order(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "order.db") as store:
        await store.save("counter", "a", b"1", [], 1)
        # Asked for at once, so written by one group commit in this order: the save before
        # the delete is deleted, the one after it is kept.
        await asyncio.gather(store.save("counter", "a", b"2", [], 2),
                             store.delete("counter", "a"), store.save("counter", "a", b"3", [], 3))
        record = await store.load("counter", "a")
        assert record is not None and record.state == b"3"


async def test_durable_types_are_recorded(store: StateStore) -> None:
    assert not await store.is_durable("counter")
    await store.mark_durable("counter")
    assert await store.is_durable("counter")


async def test_a_closed_store_raises_a_store_error(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "x.db")
    with pytest.raises(StoreError, match="not open"):
        await s.load("a", "b")
    bad = SQLiteStore(tmp_path / "missing-dir" / "x.db")
    with pytest.raises(StoreError, match="cannot open"):
        await bad.open()


_OLD_INBOX = """
CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, session TEXT NOT NULL,
    msg_id TEXT NOT NULL UNIQUE, header TEXT NOT NULL, content BLOB NOT NULL,
    enqueued REAL NOT NULL, touched REAL NOT NULL, deliveries INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0);
CREATE INDEX inbox_session ON inbox (done, type, session);
INSERT INTO inbox VALUES (1, 'counter', 's1', 'acked', '{"type":"Add"}', x'', 1.0, 2.0, 0, 1);
INSERT INTO inbox VALUES (2, 'counter', 's1', 'later', '{"type":"Add"}', x'7b7d', 4.0, 4.0, 0, 0);
INSERT INTO inbox VALUES (3, 'counter', 's2', 'first', '{"type":"Add"}', x'7b7d', 3.0, 3.0, 2, 0);
"""


async def test_a_sqlite_store_of_the_one_table_inbox_opens_with_its_messages(
        tmp_path: Path) -> None:
    import sqlite3
    import time

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(_OLD_INBOX.replace("1.0, 2.0", f"{time.time()}, {time.time()}"))
    db.close()
    async with SQLiteStore(path) as store:
        # pending in their old order, delivery counts kept; the acknowledged id still seen
        assert [(e.msg_id, e.deliveries) for e in await store.pending()] == [
            ("later", 0), ("first", 2)]
        assert not await store.enqueue(entry("s1", "acked"))
        assert not await store.enqueue(entry("s1", "later"))
        assert await store.enqueue(entry("s1", "new"))
        assert [e.msg_id for e in await store.pending()] == ["later", "first", "new"]
    async with SQLiteStore(path) as store:  # opened again: nothing left to move
        assert [e.msg_id for e in await store.pending()] == ["later", "first", "new"]
