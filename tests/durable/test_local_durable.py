"""Durable sessions on LocalRuntime with the SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

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
