"""Tells delivered to a live session while their write is queued (SQLite store).

A tell to a session live on this node reaches its cell at once; when the session's save
joins the commit that holds the tell's inbox row, the pair is written as the id's ``seen``
row and the state, without the pending row and its deletion. These tests use real SQLite
files; a failing write is a real SQLite error, raised by a trigger that a switch table
turns on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest

from coagent import Context, handler
from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.core import AgentSpec, new
from coagent.errors import StoreError
from coagent.runtimes import LocalRuntime
from coagent.store import MSG_ID_HEADER
from tests.durable.agents import Add, Counter, Get, Total

C1 = Address("counter", "c1")


def counter_spec(factory: type[Counter] = Counter) -> AgentSpec:
    return AgentSpec("counter", new(factory), durable=True)


def failing_writes(db: str, table: str) -> sqlite3.Connection:
    """A second connection to ``db`` with a trigger that fails every write to ``table``
    while the ``fail_switch`` table has a row (insert one to turn it on)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("CREATE TABLE IF NOT EXISTS fail_switch (x INTEGER)")
    for when in ("INSERT", "UPDATE"):
        conn.execute(
            f"CREATE TRIGGER IF NOT EXISTS fail_{table}_{when.lower()} BEFORE {when} ON {table}"
            " WHEN (SELECT count(*) FROM fail_switch) > 0"
            " BEGIN SELECT RAISE(ABORT, 'the disk says no'); END")
    return conn


def rows(db: str, sql: str) -> list[Any]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_a_tell_to_a_live_session_writes_its_id_and_the_state_but_no_pending_row(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "s.db")
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec())
        await rt.ask(C1, Get(), timeout=5)  # the session is live from here on
        store: Any = rt.durable.store  # type: ignore[union-attr]
        before = store._conn().total_changes
        for i in range(50):
            await rt.tell(C1, Add(n=i))
        changes = store._conn().total_changes - before
        assert (await rt.ask(C1, Get(), timeout=5)).n == sum(range(50))
    # Two row writes a tell (its seen row and the state), not four (seen, pending row,
    # state, the pending row's deletion); a few saves may still fall in a later commit.
    assert changes <= 2 * 50 + 10, changes
    assert rows(db, "SELECT count(*) FROM pending") == [(0,)]
    assert rows(db, "SELECT count(*) FROM seen") == [(50,)]  # the tells; asks are not queued
    [(applied_count,)] = rows(db, "SELECT applied_count FROM sessions")
    assert applied_count == 52  # 50 tells and 2 asks


async def test_many_senders_to_live_sessions_all_apply_exactly_once(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec())
        sessions = [Address("counter", f"s{i}") for i in range(20)]
        await asyncio.gather(*(rt.ask(a, Get(), timeout=5) for a in sessions))

        async def sender(address: Address) -> None:
            for i in range(30):
                await rt.tell(address, Add(n=i))

        await asyncio.gather(*(sender(a) for a in sessions))
        totals = await asyncio.gather(*(rt.ask(a, Get(), timeout=5) for a in sessions))
        assert all(t.seen == list(range(30)) for t in totals)
    assert rows(db, "SELECT count(*) FROM pending") == [(0,)]
    # the stored state of each session holds every tell, after a restart too
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec())
        totals = await asyncio.gather(*(rt.ask(a, Get(), timeout=5) for a in sessions))
        assert all(t.n == sum(range(30)) for t in totals)


async def test_a_failed_commit_fails_the_tell_and_the_session_keeps_no_effect_of_it(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "s.db")
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec())
        assert (await rt.ask(C1, Add(n=1), timeout=5)).n == 1
        conn = failing_writes(db, "seen")
        conn.execute("INSERT INTO fail_switch VALUES (1)")
        with pytest.raises(StoreError, match="the disk says no"):
            await rt.tell(C1, Add(n=100))
        conn.execute("DELETE FROM fail_switch")
        # The session applied it before the commit failed: it was restored from the store.
        assert await rt.ask(C1, Get(), timeout=5) == Total(n=1, seen=[1])
        await rt.tell(C1, Add(n=2))  # and goes on
        assert await rt.ask(C1, Get(), timeout=5) == Total(n=3, seen=[1, 2])
        conn.close()
    assert rows(db, "SELECT count(*) FROM pending") == [(0,)]


class Gated(Counter):
    """A counter whose ``add`` waits for the test to open its gate (a long handler)."""

    gate: ClassVar[asyncio.Event]
    entered: ClassVar[asyncio.Event]

    @handler
    async def add(self, msg: Add, ctx: Context) -> Total:
        Gated.entered.set()
        await Gated.gate.wait()
        return await Counter.add(self, msg, ctx)


async def test_a_long_handler_saves_in_a_later_commit_and_its_pending_row_is_written(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "s.db")
    Gated.gate, Gated.entered = asyncio.Event(), asyncio.Event()
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec(Gated))
        await rt.ask(C1, Get(), timeout=5)
        await rt.tell(C1, Add(n=7))  # returns once stored, while the handler waits
        await asyncio.wait_for(Gated.entered.wait(), 5)
        [(pending_id,)] = rows(db, "SELECT msg_id FROM pending")
        Gated.gate.set()
        assert (await rt.ask(C1, Get(), timeout=5)).n == 7
        assert rows(db, "SELECT count(*) FROM pending") == [(0,)]
        [(count,)] = rows(db, "SELECT applied_count FROM sessions")
        assert count == 3  # the first ask, the tell, the second ask
        assert rows(db, f"SELECT count(*) FROM seen WHERE msg_id = '{pending_id}'") == [(1,)]
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec())
        assert (await rt.ask(C1, Get(), timeout=5)).seen == [7]


async def test_a_failed_save_after_the_message_was_stored_restores_the_session(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "s.db")
    Gated.gate, Gated.entered = asyncio.Event(), asyncio.Event()
    async with LocalRuntime(store=db, redeliver_after=0.5) as rt:
        await rt.register(counter_spec(Gated))
        await rt.ask(C1, Get(), timeout=5)
        await rt.tell(C1, Add(n=7))  # stored: its pending row is committed
        await asyncio.wait_for(Gated.entered.wait(), 5)
        conn = failing_writes(db, "sessions")
        conn.execute("INSERT INTO fail_switch VALUES (1)")
        Gated.gate.set()  # the handler applies it; its save fails
        for _ in range(200):
            if rows(db, "SELECT count(*) FROM pending") == [(1,)] and \
                    rt.sessions_of("counter") and not Gated.entered.is_set():
                break
            Gated.entered.clear()
            await asyncio.sleep(0.01)
        conn.execute("DELETE FROM fail_switch")
        conn.close()
        # The effect was not kept in memory: the stored message is delivered again and
        # applied once, on the restored state.
        for _ in range(500):
            total = await rt.ask(C1, Get(), timeout=5)
            if total.seen:
                break
            await asyncio.sleep(0.02)
        assert total == Total(n=7, seen=[7])
    assert rows(db, "SELECT count(*) FROM pending") == [(0,)]


async def test_a_retried_tell_to_a_live_session_is_applied_once(tmp_path: Path) -> None:
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(counter_spec())
        await rt.ask(C1, Get(), timeout=5)
        raw = Add(n=5).encode()
        raw = RawMessage(header={**raw.header, MSG_ID_HEADER: "order-7"}, content=raw.content)
        await asyncio.gather(*(rt.tell(C1, raw) for _ in range(5)))
        await rt.tell(C1, raw)
        assert (await rt.ask(C1, Get(), timeout=5)).seen == [5]
