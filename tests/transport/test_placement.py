"""Placement: one claim per session however many ask at once, a claim made during a release holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from coagent import Address
from coagent.testing import NATSServer
from coagent.transport.nats.connection import Connection
from coagent.transport.nats.placement import OWNER_CACHE_SIZE, Placement
from coagent.transport.subjects import Subjects
from tests.transport.conftest import fresh_prefix


@pytest.fixture
async def pair(nats_server: NATSServer) -> AsyncIterator[tuple[Placement, Placement]]:
    prefix = fresh_prefix()
    out = []
    conns = []
    for name in ("pa", "pb"):
        conn = Connection([nats_server.url], name=name)
        await conn.connect()
        conns.append(conn)
        # Liveness is asked on P.ctl.<node>.ping: answer it as a node would.
        subjects = Subjects(prefix, name)

        async def pong(msg, name=name) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(name.encode())

        await conn.nc.subscribe(subjects.ping(name), cb=pong)
        placement = Placement(conn, subjects, lease_ttl=15)
        await placement.open()
        out.append(placement)
    try:
        yield out[0], out[1]
    finally:
        for conn in conns:
            await conn.close()


async def test_concurrent_claims_of_one_session_settle_on_one_owner(pair: tuple[Placement, Placement]) -> None:
    a, b = pair
    owners = await asyncio.gather(*(p.claim("echo", "s1") for p in (a, b) for _ in range(20)))
    assert len(set(owners)) == 1
    winner = a if owners[0] == "pa" else b
    assert winner.claimed == {"echo.s1"}
    assert (a if winner is b else b).claimed == set()


async def test_a_claim_made_while_the_release_is_in_flight_is_kept(pair: tuple[Placement, Placement]) -> None:
    a, b = pair
    assert await a.claim("echo", "s1") == "pa"
    a.session_ended("echo", "s1")  # the release runs in the background ...
    assert await a.claim("echo", "s1") == "pa"  # ... and a new claim waits for it
    assert a.claimed == {"echo.s1"}
    assert await b.claim("echo", "s1") == "pa"


async def test_a_released_session_can_be_claimed_by_another_node(pair: tuple[Placement, Placement]) -> None:
    a, b = pair
    assert await a.claim("echo", "s2") == "pa"
    a.session_ended("echo", "s2")
    await asyncio.gather(*a._releasing.values())
    assert await b.claim("echo", "s2") == "pb"


async def test_a_stopping_node_frees_its_sessions_for_others_at_once(pair: tuple[Placement, Placement]) -> None:
    a, b = pair
    await asyncio.gather(*(a.claim("echo", f"s{i}") for i in range(10)))
    await a.release_all()
    assert a.claimed == set()
    assert await b.claim("echo", "s3") == "pb"


def test_the_owner_cache_forgets_the_oldest_entry_past_its_size() -> None:
    placement = Placement(None, Subjects("c", "me"), lease_ttl=15)  # type: ignore[arg-type]
    placement.remember_owner(Address("echo", "first"), "node-b")
    for i in range(OWNER_CACHE_SIZE):
        placement.remember_owner(Address("echo", f"s{i}"), "node-b")
    assert Address("echo", "first") not in placement.owners
    assert len(placement.owners) == OWNER_CACHE_SIZE
    placement.remember_owner(Address("echo", "mine"), "me")  # this node is never cached
    assert Address("echo", "mine") not in placement.owners
