"""Durable sessions on LocalRuntime with the SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from coagent import Actor, Context, Message, handler
from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.core import AgentSpec, new
from coagent.errors import StoreRequired
from coagent.runtimes import LocalRuntime
from coagent.store import MSG_ID_HEADER
from tests.durable.agents import Add, Boom, Counter, Get, Total


def counter_spec(**kw: object) -> AgentSpec:
    return AgentSpec("counter", new(Counter), durable=True, **kw)  # type: ignore[arg-type]


async def test_state_survives_passivation(tmp_path: Path) -> None:
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(counter_spec())
        c = Address("counter", "c1")
        for _ in range(3):
            await rt.tell(c, Add(n=2))
        assert (await rt.ask(c, Get(), timeout=5)).n == 6
        assert await rt.passivate(c)
        assert rt.sessions_of("counter") == []
        assert (await rt.ask(c, Get(), timeout=5)).n == 6


async def test_state_survives_a_restart_of_the_runtime(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec())
        for i in range(5):
            await rt.tell(Address("counter", "c1"), Add(n=i))
        assert (await rt.ask(Address("counter", "c1"), Get(), timeout=5)).seen == [0, 1, 2, 3, 4]
    async with LocalRuntime(store=db) as rt:
        await rt.register(counter_spec())
        total = await rt.ask(Address("counter", "c1"), Add(n=10), timeout=5)
        assert total == Total(n=20, seen=[0, 1, 2, 3, 4, 10])
        [info] = await rt.durable.store.sessions("counter")  # type: ignore[union-attr]
        assert (info.session, info.applied_count, info.pending) == ("c1", 7, 0)


async def test_a_retried_tell_with_the_same_message_id_is_applied_once(tmp_path: Path) -> None:
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(counter_spec())
        raw = Add(n=5).encode()
        raw = RawMessage(header={**raw.header, MSG_ID_HEADER: "order-42"}, content=raw.content)
        for _ in range(3):
            await rt.tell(Address("counter", "c1"), raw)
        assert (await rt.ask(Address("counter", "c1"), Get(), timeout=5)).n == 5


async def test_an_ask_with_an_applied_message_id_does_not_apply_again(tmp_path: Path) -> None:
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(counter_spec())
        raw = Add(n=5).encode()
        raw = RawMessage(header={**raw.header, MSG_ID_HEADER: "ask-1"}, content=raw.content)
        first = await rt.ask(Address("counter", "c1"), raw, timeout=5)
        assert Total.decode(first).n == 5
        await rt.ask(Address("counter", "c1"), raw, timeout=5)
        assert (await rt.ask(Address("counter", "c1"), Get(), timeout=5)).n == 5


async def test_a_poison_message_becomes_a_dead_letter_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(counter_spec(max_deliveries=3))
        c = Address("counter", "c1")
        await rt.tell(c, Add(n=1))
        await rt.tell(c, Boom(reason="bad input"))
        await rt.tell(c, Add(n=2))
        store = rt.durable.store  # type: ignore[union-attr]
        async with asyncio.timeout(10):
            while not await store.dead_letters():
                await asyncio.sleep(0.05)
        [dead] = await store.dead_letters()
        assert (dead.type, dead.session, dead.deliveries) == ("counter", "c1", 3)
        assert "RuntimeError: bad input" in dead.error
        assert dead.header["type"] == "Boom"
        total = await rt.ask(c, Get(), timeout=5)
        assert (total.n, total.seen) == (3, [1, 2])  # the failed handler's +1000 was undone
        assert await store.pending() == []


class LongNap(Message):
    seconds: float = 0.0


class NapState(msgspec.Struct):
    naps: int = 0


class Napper(Actor):
    """Handles a stored tell slowly (as an agent waiting a minute for its model does)."""

    def __init__(self) -> None:
        super().__init__()
        self.state = NapState()

    def snapshot(self) -> NapState:
        return self.state

    def restore(self, data: Any) -> None:
        self.state = msgspec.convert(data, NapState)

    @handler
    async def nap(self, msg: LongNap, ctx: Context) -> None:
        await asyncio.sleep(msg.seconds)
        self.state.naps += 1


async def test_a_long_handler_keeps_its_message_marked_as_in_hand(tmp_path: Path) -> None:
    # redeliver_after 0.6 s: a message unmarked for that long is redelivered by any node's
    # sweep; the handler takes three times that.
    async with LocalRuntime(store=str(tmp_path / "s.db"), redeliver_after=0.6) as rt:
        await rt.register(AgentSpec("napper", new(Napper), durable=True))
        store = rt.durable.store  # type: ignore[union-attr]
        await rt.tell(Address("napper", "n1"), LongNap(seconds=1.8))
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.6
        looked = 0
        while loop.time() < end:
            assert len(await store.pending("napper")) == 1  # still in the handler
            assert await store.pending("napper", older_than=0.6) == [], "not marked in time"
            looked += 1
            await asyncio.sleep(0.1)
        assert looked > 5
        async with asyncio.timeout(10):
            while await store.pending("napper"):
                await asyncio.sleep(0.05)
        [info] = await store.sessions("napper")
        assert info.applied_count == 1
        record = await store.load("napper", "n1")
        assert record is not None and record.state == b'{"naps":1}'


async def test_a_durable_type_without_a_store_is_refused_with_a_typed_error() -> None:
    async with LocalRuntime() as rt:
        with pytest.raises(StoreRequired, match="store"):
            await rt.register(counter_spec())
        assert rt.specs() == []


def test_a_durable_actor_must_declare_its_state() -> None:
    from coagent import Actor

    class Stateless(Actor):
        pass

    with pytest.raises(TypeError, match=r"snapshot\(\) and restore\(\)"):
        AgentSpec("x", new(Stateless), durable=True)
