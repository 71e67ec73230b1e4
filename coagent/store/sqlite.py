"""``SQLiteStore``: the embedded store of one process (``LocalRuntime(store="state.db")``).

Why one module of about 530 lines: the schema, the group commit and the statements it batches are one piece
(the batching relies on what each statement may be reordered with), kept in one module.

::

    async with LocalRuntime(store="state.db") as runtime:
        await runtime.register(AgentSpec("counter", new(Counter), durable=True))

Durability: WAL mode with ``synchronous=NORMAL``. A commit is in the WAL file (the
operating system's page cache) before ``COMMIT`` returns, so it survives the death of
the process, kill -9 included (``tests/durable/test_local_kill.py``); only a power loss
or an operating-system crash may drop the last commits.

Writes from concurrent callers are grouped into one transaction per turn of the event
loop (group commit): every caller returns only after the commit that holds its write.
Rows of one kind in a commit (state rows, inbox rows, acknowledgements) are written by
one ``executemany`` each, not one ``execute`` per caller.

The sqlite3 calls run on the loop's thread. Measured against a commit on a worker thread
(one in flight, the loop queuing the next meanwhile; the sqlite3 module releases the GIL
while SQLite steps): 100 sessions of durable tells reached 0.24-0.25x of the benchmark's
floor on the loop's thread and 0.20-0.22x on the worker (``benchmarks/durable.py``, 2
cores): each of a commit's rows hands the GIL back and forth, which costs more than the
overlap gains while the runtime's Python, not the SQL, is most of a tell's cost.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from coagent.errors import StoreError
from coagent.store.base import DeadLetter, InboxEntry, SessionInfo, StoredSession

__all__ = ["SQLiteStore"]

T = TypeVar("T")

#: Seconds an accepted message id is remembered for de-duplication of retried sends.
SEEN_TTL = 24 * 3600.0

#: Ids of failed early inserts remembered (see ``SQLiteStore.enqueue_soon``); a save
#: acknowledges its messages within a few loop turns, so this bounds only a pathology.
LOST_MAX = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    type TEXT NOT NULL, session TEXT NOT NULL, state BLOB NOT NULL,
    applied TEXT NOT NULL, applied_count INTEGER NOT NULL, updated REAL NOT NULL,
    reply_id TEXT NOT NULL DEFAULT '', reply BLOB NOT NULL DEFAULT x'',
    PRIMARY KEY (type, session)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (msg_id TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    msg_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, type TEXT NOT NULL, session TEXT NOT NULL,
    header TEXT NOT NULL, content BLOB NOT NULL, enqueued REAL NOT NULL,
    touched REAL NOT NULL, deliveries INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, session TEXT NOT NULL,
    msg_id TEXT NOT NULL, header TEXT NOT NULL, content BLOB NOT NULL, error TEXT NOT NULL,
    deliveries INTEGER NOT NULL, failed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS durable_types (type TEXT PRIMARY KEY) WITHOUT ROWID;
"""

#: A store written before the inbox was split into ``seen`` and ``pending`` kept one
#: ``inbox`` table with a ``done`` flag: its rows move over when it is opened.
_MIGRATE_INBOX = """
INSERT OR IGNORE INTO seen SELECT msg_id, touched FROM inbox;
INSERT OR IGNORE INTO pending SELECT msg_id, seq, type, session, header, content, enqueued,
    touched, deliveries FROM inbox WHERE done = 0;
DROP TABLE inbox;
"""

#: Why two tables for the inbox: an accepted message's id is remembered in ``seen`` for
#: SEEN_TTL (a retried send is refused by the one-row insert that accepts a new one),
#: while ``pending`` holds only what is not yet applied, so that an acknowledgement is
#: one delete and the sweep reads no tombstones. Four one-b-tree row writes a tell
#: (seen, pending, state, ack) against seven with one table, a ``done`` flag and two
#: indexes: 7.5 against 9.5 us a tell in the benchmark's plain loop of these statements.
_SEEN = "INSERT OR IGNORE INTO seen VALUES (?, ?)"
_INSERT = ("INSERT OR IGNORE INTO pending (msg_id, seq, type, session, header, content,"
           " enqueued, touched, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_ACK = "DELETE FROM pending WHERE msg_id = ?"
_REPLACE = "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

_json = msgspec.json.Encoder()
_headers = msgspec.json.Decoder(dict[str, str])
_ids = msgspec.json.Decoder(list[str])


class _Bulk:
    """The rows of one stretch of the group commit, each kind written by one ``executemany``.

    Within a stretch the kinds may run in any order: state rows and inbox rows are
    different tables, and an acknowledgement follows its own message's insert in one
    stretch only when that insert was queued early (``early``: delivered to its session
    while its write was queued, see :meth:`SQLiteStore.enqueue_soon`). Such a pair is
    collapsed: the message's id goes to ``seen`` and its effect is in the state row of
    the same transaction, so neither its pending row nor that row's deletion is written
    (two row writes a tell instead of four). Every other acknowledgement concerns a row
    committed before, so running acknowledgements before inserts keeps the order in
    which they were asked. Rows are tuples in the statements' column order: ``states``
    for ``_REPLACE``, ``inserts`` for ``_INSERT`` (the message id first), ``acks``
    message ids.
    """

    __slots__ = ("acks", "done", "early", "inserted", "inserts", "states")

    def __init__(self) -> None:
        self.states: list[tuple[Any, ...]] = []
        self.acks: list[str] = []
        self.inserts: list[tuple[Any, ...]] = []
        #: Ids of the inserts queued by ``enqueue_soon`` (their acknowledgement may follow).
        self.early: list[str] = []
        #: Futures of the state writes and acknowledgements (result ``None``).
        self.done: list[asyncio.Future[Any]] = []
        #: Futures of the inserts, one per row (result: the row was new).
        self.inserted: list[asyncio.Future[bool]] = []

    def run(self, db: sqlite3.Connection, now: float) -> list[bool]:
        if self.states:
            db.executemany(_REPLACE, self.states)
        acks = self.acks
        rows = self.inserts
        keep = rows
        if self.early and acks:
            collapsed = set(self.early).intersection(acks)
            if collapsed:
                acks = [msg_id for msg_id in acks if msg_id not in collapsed]
                keep = [row for row in rows if row[0] not in collapsed]
        if acks:
            db.executemany(_ACK, [(msg_id,) for msg_id in acks])
        if not rows:
            return []
        db.execute("SAVEPOINT accept")
        if db.executemany(_SEEN, [(row[0], now) for row in rows]).rowcount == len(rows):
            db.execute("RELEASE accept")
            if keep:
                db.executemany(_INSERT, keep)
            return [True] * len(rows)
        # Some ids were seen before (a sender's retry, or one id twice in this stretch):
        # find which, one row at a time (rare, so the common case needs no look-up).
        db.execute("ROLLBACK TO accept")
        db.execute("RELEASE accept")
        kept = {id(row) for row in keep}
        flags = []
        for row in rows:
            new = db.execute(_SEEN, (row[0], now)).rowcount > 0
            if new and id(row) in kept:
                db.execute(_INSERT, row)
            elif not new and id(row) not in kept:
                db.execute(_ACK, (row[0],))  # an older pending copy: its ack still applies
            flags.append(new)
        return flags

    def resolve(self, flags: list[bool]) -> None:
        # Senders first: woken before the sessions whose saves this commit held, a sender's
        # next tell reaches its session's mailbox while that cell's task is still alive,
        # which then goes on with it (no new drain task for it, no idle turn).
        for fut, new in zip(self.inserted, flags, strict=True):
            if not fut.done():
                fut.set_result(new)
        for waiter in self.done:
            if not waiter.done():
                waiter.set_result(None)

    def fail(self, error: BaseException) -> None:
        for fut in itertools.chain(self.done, self.inserted):
            if not fut.done():
                fut.set_exception(error)


class _Op:
    """One operation of its own in the group commit (a delete, a dead letter, ...)."""

    __slots__ = ("fn", "fut")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], fut: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.fut = fut

    def run(self, db: sqlite3.Connection, now: float) -> Any:
        return self.fn(db)

    def resolve(self, value: Any) -> None:
        if not self.fut.done():
            self.fut.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.fut.done():
            self.fut.set_exception(error)


class SQLiteStore:
    """A :class:`~coagent.store.base.StateStore` in one SQLite file (``":memory:"`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | None = None
        # The group commit's queue, in order: stretches of bulk rows, and single operations
        # (deletes, dead letters, ...) between them.
        self._queue: list[_Bulk | _Op] = []
        self._bulk: _Bulk | None = None
        self._flush_handle: asyncio.Handle | None = None
        self._seq = itertools.count(1)
        # Early inserts (enqueue_soon) of this commit whose save has not come yet: the
        # commit waits one more loop turn for them, once (a steady stream of tells cannot
        # starve it), so that the saves of the sessions they were delivered to join it.
        self._open: set[str] = set()
        self._held = False
        # Ids of early inserts whose commit failed: a save that acknowledges one is refused
        # (its session applied a message that was never stored). Rare, and bounded.
        self._lost: dict[str, None] = {}

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        if self._db is not None:
            return
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inbox'"
                          ).fetchone() is not None:
                db.executescript(f"BEGIN IMMEDIATE; {_MIGRATE_INBOX} COMMIT;")
            # An accepted id is remembered for SEEN_TTL (while still pending: for as long).
            db.execute("DELETE FROM seen WHERE at < ? AND msg_id NOT IN"
                       " (SELECT msg_id FROM pending)", (time.time() - SEEN_TTL,))
            # Pending messages are replayed in this order; one process writes a store file,
            # so a counter from the largest pending one keeps it.
            self._seq = itertools.count(
                db.execute("SELECT coalesce(max(seq), 0) FROM pending").fetchone()[0] + 1)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        self._db = db

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        if self._queue:
            self._flush_with(db)
        db.close()

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _conn(self) -> sqlite3.Connection:
        db = self._db
        if db is None:
            raise StoreError(f"SQLite store {self.path!r} is not open")
        return db

    # ------------------------------------------------------- group commit

    def _schedule(self) -> asyncio.AbstractEventLoop:
        self._conn()
        loop = asyncio.get_running_loop()
        if self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._flush)
        return loop

    def _rows(self) -> _Bulk:
        bulk = self._bulk
        if bulk is None:
            bulk = self._bulk = _Bulk()
            self._queue.append(bulk)
        return bulk

    def _write(self, op: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        fut: asyncio.Future[T] = self._schedule().create_future()
        self._queue.append(_Op(op, fut))
        self._bulk = None  # rows asked for after this op are written after it
        return fut

    def _flush(self) -> None:
        if self._open and not self._held:
            self._held = True
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            return
        self._flush_handle = None
        db = self._db
        if db is None:
            error = StoreError(f"SQLite store {self.path!r} was closed")
            self._fail(self._take(), error)
            return
        self._flush_with(db)

    def _fail(self, batch: list[_Bulk | _Op], error: StoreError) -> None:
        lost = self._lost
        for item in batch:
            if item.__class__ is _Bulk:
                early = item.early
                if early:
                    if len(lost) + len(early) > LOST_MAX:
                        lost.clear()
                    lost.update(dict.fromkeys(early))
            item.fail(error)

    def _take(self) -> list[_Bulk | _Op]:
        batch, self._queue, self._bulk = self._queue, [], None
        self._open.clear()
        self._held = False
        return batch

    def _flush_with(self, db: sqlite3.Connection) -> None:
        batch = self._take()
        results: list[Any] = []
        now = time.time()
        try:
            db.execute("BEGIN IMMEDIATE")
            for item in batch:
                results.append(item.run(db, now))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            # Each op is one statement that cannot conflict (INSERT OR IGNORE, upserts,
            # deletes), so an error here is the file's (full disk, I/O): the whole batch fails.
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._fail(batch, StoreError(f"SQLite store write failed: {exc}"))
            return
        for item, value in zip(batch, results, strict=True):
            item.resolve(value)

    # ------------------------------------------------------------ sessions

    async def load(self, type_name: str, session: str) -> StoredSession | None:
        row = self._conn().execute(
            "SELECT state, applied, applied_count, updated, reply_id, reply FROM sessions"
            " WHERE type = ? AND session = ?", (type_name, session),
        ).fetchone()
        if row is None:
            return None
        return StoredSession(type_name, session, bytes(row[0]), _ids.decode(row[1]), row[2],
                             row[3], row[4], bytes(row[5]))

    #: The state and its messages' acknowledgements go in one transaction.
    atomic_ack = True

    async def save(self, type_name: str, session: str, state: bytes, applied: list[str],
                   applied_count: int | None = None, reply_id: str = "",
                   reply: bytes = b"", ack: Sequence[str] = ()) -> None:
        if ack and self._lost:
            lost = [msg_id for msg_id in ack if msg_id in self._lost]
            if lost:
                for msg_id in lost:
                    del self._lost[msg_id]
                raise StoreError(f"messages {lost} were not stored (their write failed):"
                                 " a state that applied them is not written")
        applied_json = _json.encode(applied)
        now = time.time()
        if applied_count is None:
            def op(db: sqlite3.Connection) -> None:
                if ack:
                    db.executemany(_ACK, [(msg_id,) for msg_id in ack])
                db.execute(
                    "INSERT INTO sessions VALUES (?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT"
                    " (type, session) DO UPDATE SET state = excluded.state,"
                    " applied = excluded.applied, applied_count = applied_count + 1,"
                    " updated = excluded.updated, reply_id = excluded.reply_id,"
                    " reply = excluded.reply",
                    (type_name, session, state, applied_json, now, reply_id, reply),
                )

            await self._write(op)
            return
        # The common case, written with the other sessions' rows of this commit.
        fut: asyncio.Future[None] = self._schedule().create_future()
        bulk = self._rows()
        bulk.states.append((type_name, session, state, applied_json, applied_count, now,
                            reply_id, reply))
        if ack:
            bulk.acks.extend(ack)
            if self._open:
                self._open.difference_update(ack)
        bulk.done.append(fut)
        await fut

    async def delete(self, type_name: str, session: str) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM sessions WHERE type = ? AND session = ?",
                             (type_name, session))
            found = cur.rowcount > 0
            cur = db.execute("DELETE FROM pending WHERE type = ? AND session = ?",
                             (type_name, session))
            return found or cur.rowcount > 0

        return await self._write(op)

    async def sessions(self, type_name: str | None = None) -> list[SessionInfo]:
        sql = ("SELECT s.type, s.session, length(s.state), s.updated, s.applied_count,"
               " coalesce(p.n, 0) FROM sessions s LEFT JOIN (SELECT type, session,"
               " count(*) AS n FROM pending GROUP BY type, session) p USING (type, session)")
        args: tuple[str, ...] = ()
        if type_name is not None:
            sql += " WHERE s.type = ?"
            args = (type_name,)
        rows = self._conn().execute(sql + " ORDER BY s.type, s.session", args).fetchall()
        return [SessionInfo(*row) for row in rows]

    # --------------------------------------------------------------- inbox

    async def enqueue(self, entry: InboxEntry) -> bool:
        fut: asyncio.Future[bool] = self._schedule().create_future()
        bulk = self._rows()
        bulk.inserts.append((entry.msg_id, next(self._seq), entry.type, entry.session,
                             _json.encode(entry.header).decode(), entry.content,
                             entry.enqueued, entry.enqueued, entry.deliveries))
        bulk.inserted.append(fut)
        return await fut

    def enqueue_soon(self, entry: InboxEntry) -> asyncio.Future[bool]:
        """Queue ``entry``'s write now, without waiting: the future of :meth:`enqueue`.

        For a message delivered to its session while this write is queued (``entry``'s id
        is new: made by this process). The commit that holds it waits one more loop turn,
        so that the session's ``save(..., ack=[id])`` joins it and the pair collapses
        into the id's ``seen`` row and the state (see ``_Bulk``); a save that comes in a
        later commit acknowledges a pending row as usual. If the commit fails, a later
        save acknowledging the id raises ``StoreError``: the effect of a message that was
        never stored is not written either.
        """
        fut: asyncio.Future[bool] = self._schedule().create_future()
        self._open.add(entry.msg_id)
        bulk = self._rows()
        bulk.inserts.append((entry.msg_id, next(self._seq), entry.type, entry.session,
                             _json.encode(entry.header).decode(), entry.content,
                             entry.enqueued, entry.enqueued, entry.deliveries))
        bulk.inserted.append(fut)
        bulk.early.append(entry.msg_id)
        return fut

    async def ack(self, type_name: str, session: str, msg_id: str) -> None:
        fut: asyncio.Future[None] = self._schedule().create_future()
        bulk = self._rows()
        bulk.acks.append(msg_id)
        bulk.done.append(fut)
        await fut

    async def pending(self, type_name: str | None = None, session: str | None = None,
                      older_than: float | None = None) -> list[InboxEntry]:
        sql = ("SELECT type, session, msg_id, header, content, enqueued, deliveries FROM pending"
               " WHERE 1")
        args: list[Any] = []
        if type_name is not None:
            sql += " AND type = ?"
            args.append(type_name)
        if session is not None:
            sql += " AND session = ?"
            args.append(session)
        if older_than is not None:
            sql += " AND touched <= ?"
            args.append(time.time() - older_than)
        rows = self._conn().execute(sql + " ORDER BY seq", args).fetchall()
        return [InboxEntry(r[0], r[1], r[2], _headers.decode(r[3]), bytes(r[4]), r[5], r[6])
                for r in rows]

    async def redelivered(self, type_name: str, session: str, msg_id: str) -> int:
        now = time.time()

        def op(db: sqlite3.Connection) -> int:
            row = db.execute(
                "UPDATE pending SET deliveries = deliveries + 1, touched = ?"
                " WHERE msg_id = ? RETURNING deliveries", (now, msg_id),
            ).fetchone()
            return 0 if row is None else int(row[0])

        return await self._write(op)

    async def touch(self, type_name: str, session: str, msg_id: str) -> None:
        now = time.time()

        def op(db: sqlite3.Connection) -> None:
            db.execute("UPDATE pending SET touched = ? WHERE msg_id = ?", (now, msg_id))

        await self._write(op)

    async def dead_letter(self, entry: InboxEntry, error: str) -> None:
        header = _json.encode(entry.header).decode()
        now = time.time()

        def op(db: sqlite3.Connection) -> None:
            db.execute(_ACK, (entry.msg_id,))
            db.execute(
                "INSERT INTO dead_letters (type, session, msg_id, header, content, error,"
                " deliveries, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (entry.type, entry.session, entry.msg_id, header, entry.content, error,
                 entry.deliveries, now),
            )

        await self._write(op)

    async def dead_letters(self, type_name: str | None = None) -> list[DeadLetter]:
        sql = ("SELECT type, session, msg_id, header, content, error, deliveries, failed_at"
               " FROM dead_letters")
        args: tuple[str, ...] = ()
        if type_name is not None:
            sql += " WHERE type = ?"
            args = (type_name,)
        rows = self._conn().execute(sql + " ORDER BY seq", args).fetchall()
        return [DeadLetter(r[0], r[1], r[2], _headers.decode(r[3]), bytes(r[4]), r[5], r[6], r[7])
                for r in rows]

    # ---------------------------------------------------------------- types

    async def mark_durable(self, type_name: str) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR IGNORE INTO durable_types VALUES (?)", (type_name,))

        await self._write(op)

    async def is_durable(self, type_name: str) -> bool:
        row = self._conn().execute(
            "SELECT 1 FROM durable_types WHERE type = ?", (type_name,)).fetchone()
        return row is not None
