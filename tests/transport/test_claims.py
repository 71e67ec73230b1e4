"""Claims track live sessions only, and their upkeep is one lease put per node and interval."""

from __future__ import annotations

import asyncio
import time

import nats

from coagent import Address
from coagent.core import AgentSpec, new
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from coagent.transport.nats.kvscan import scan_latest
from tests.kit import Ping, Stateful
from tests.transport.conftest import fresh_prefix


async def _claim_keys(node: NATSRuntime) -> list[str]:
    kv = node.claims.kv
    return [record.key for record in await scan_latest(kv._js, kv._name)]


async def _eventually(check, limit: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_passivated_sessions_release_their_claims_in_the_bucket_and_in_memory(nats_server: NATSServer) -> None:
    prefix = fresh_prefix()
    node = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix)
    client = NATSRuntime(nats_server.url, prefix=prefix, announce=False)
    async with node, client:
        # Long enough that no session passivates before all 200 exist, even on a loaded machine.
        # Listing 200 keys alone took over 2 s under a load average of 9 (a run there saw 0 keys).
        await node.register(AgentSpec("echo", new(Stateful), idle_timeout=6.0))
        # Half claimed by the node's own calls, half through the queue group from a client.
        await asyncio.gather(*(node.ask(Address("echo", f"own{i}"), Ping()) for i in range(100)))
        await asyncio.gather(*(client.ask(Address("echo", f"far{i}"), Ping()) for i in range(100)))
        assert len(node.transport.placement.claimed) == 200
        assert len(await _claim_keys(node)) == 200

        async def all_passivated() -> bool:
            return not (await node.tree()).agents[0].sessions

        async def all_released() -> bool:
            return not await _claim_keys(node)

        await _eventually(all_passivated)
        await _eventually(all_released)
        assert node.transport.placement.claimed == set()
        # A passivated session comes back on its next message, claimed again, state fresh.
        assert (await client.ask(Address("echo", "far7"), Ping())).n == 1
        assert await _claim_keys(node) == ["echo.far7"]


async def test_a_stopped_session_releases_its_claim(nats_server: NATSServer) -> None:
    from tests.kit import Stop

    prefix = fresh_prefix()
    async with NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix) as node:
        await node.register(AgentSpec("echo", new(Stateful)))
        await node.ask(Address("echo", "s1"), Ping())
        await node.tell(Address("echo", "s1"), Stop())

        async def released() -> bool:
            return not await _claim_keys(node)

        await _eventually(released)
        assert node.transport.placement.claimed == set()


async def test_claim_upkeep_is_one_lease_put_per_interval_whatever_the_sessions(nats_server: NATSServer) -> None:
    prefix = fresh_prefix()
    node = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix, claim_ttl=0.6)
    spy = await nats.connect(nats_server.url)
    try:
        async with node:
            await node.register(AgentSpec("echo", new(Stateful)))
            await asyncio.gather(*(node.ask(Address("echo", f"s{i}"), Ping()) for i in range(300)))
            claim_writes: list[str] = []
            lease_writes: list[str] = []

            async def on_claim(msg) -> None:  # type: ignore[no-untyped-def]
                claim_writes.append(msg.subject)

            async def on_lease(msg) -> None:  # type: ignore[no-untyped-def]
                lease_writes.append(msg.subject)

            await spy.subscribe(f"$KV.{prefix}_sessions.>", cb=on_claim)
            await spy.subscribe(f"$KV.{prefix}_nodes.>", cb=on_lease)
            await spy.flush()
            await asyncio.sleep(1.3)  # six renewal intervals of 0.2 s
            assert claim_writes == []  # 300 live sessions, not one claim touched
            assert 3 <= len(lease_writes) <= 8
            assert set(lease_writes) == {f"$KV.{prefix}_nodes.{node.name}"}
    finally:
        await spy.close()


async def test_a_claim_whose_node_has_no_lease_is_taken_over_at_once(nats_server: NATSServer) -> None:
    prefix = fresh_prefix()
    a = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix)
    b = NATSRuntime(nats_server.url, name=f"{prefix}-b", prefix=prefix)
    async with a, b:
        for node in (a, b):
            await node.register(AgentSpec("echo", new(Stateful)))
        await a.ask(Address("echo", "moving"), Ping())
        # a still answers pings but has lost its lease (as if it had been frozen past its TTL).
        await a.claims.leases.delete(a.name)
        start = time.monotonic()
        assert (await b.ask(Address("echo", "moving"), Ping())).n == 1  # a fresh actor, on b
        assert time.monotonic() - start < 1
        assert (await b.claims.kv.get("echo.moving")).value == b.name.encode()


async def test_stopping_a_node_drops_its_lease_and_its_claims(nats_server: NATSServer) -> None:
    prefix = fresh_prefix()
    a = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix)
    async with NATSRuntime(nats_server.url, name=f"{prefix}-b", prefix=prefix) as b:
        async with a:
            await a.register(AgentSpec("echo", new(Stateful)))
            await asyncio.gather(*(a.ask(Address("echo", f"s{i}"), Ping()) for i in range(20)))
        assert await _claim_keys(b) == []
        assert not await b.claims.is_alive(a.name)


async def test_the_claims_of_a_node_killed_with_sigkill_are_swept_and_its_sessions_answer_elsewhere(
        nats_server: NATSServer) -> None:
    import os

    from tests.cluster import NodeProcess, wait_for_nodes
    from tests.cluster_agents import CPing, counter

    prefix = fresh_prefix()
    # The process creates the buckets: its 1 s lease TTL is the cluster's.
    doomed = NodeProcess(nats_server.url, f"{prefix}-n1", prefix, "--claim-ttl", "1.0")
    client = NATSRuntime(nats_server.url, prefix=prefix, announce=False, default_timeout=10)
    # "-a" sorts before "-n1": the survivor is the sweeping node.
    survivor = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix, claim_ttl=1.0,
                           claim_sweep_interval=0.3)
    try:
        async with client:
            await wait_for_nodes(client, {doomed.name})
            served = await asyncio.gather(*(client.ask(Address("counter", f"s{i}"), CPing()) for i in range(30)))
            assert {pong.node for pong in served} == {doomed.name}
            async with survivor:
                await survivor.register(counter)
                await asyncio.gather(*(survivor.ask(Address("counter", f"own{i}"), CPing()) for i in range(5)))

                async def owners() -> dict[str, str]:
                    result = {}
                    for key in await _claim_keys(survivor):
                        try:
                            result[key] = (await survivor.claims.kv.get(key)).value.decode()
                        except Exception:
                            pass  # deleted between the listing and the get
                    return result

                before = await owners()
                assert sorted(k for k, v in before.items() if v == doomed.name) == sorted(
                    f"counter.s{i}" for i in range(30))
                doomed.signal(9)  # SIGKILL: nothing released, the lease just stops being renewed
                doomed.proc.wait(10)

                async def swept() -> bool:
                    return doomed.name not in (await owners()).values()

                await _eventually(swept, limit=20.0)
                # Only the dead node's claims went: the survivor's own sessions keep theirs.
                assert {k: v for k, v in (await owners()).items()} == {
                    f"counter.own{i}": survivor.name for i in range(5)}
                again = await asyncio.gather(*(client.ask(Address("counter", f"s{i}"), CPing()) for i in range(30)))
                assert {pong.pid for pong in again} == {os.getpid()}
                assert {pong.count for pong in again} == {1}  # fresh actors on the survivor
                assert len([v for v in (await owners()).values() if v == survivor.name]) == 35
    finally:
        doomed.stop()


async def test_a_sweep_reads_a_bounded_number_of_keys_and_goes_on_from_where_it_stopped(
        nats_server: NATSServer) -> None:
    prefix = fresh_prefix()
    node = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix, claim_sweep_interval=3600)
    async with node:
        store = node.claims
        for i in range(25):  # claims of a node that never had a lease here
            await store.kv.put(f"echo.dead{i}", b"gone-node")
        await store.kv.put("echo.mine", node.name.encode())
        live = await store.live_nodes()
        assert live == {node.name}
        deleted, cursor = await store.sweep(1, 10, live)
        assert deleted == 10 and cursor > 1  # ten keys read, all ten orphans
        deleted, cursor = await store.sweep(cursor, 10, live)
        assert deleted == 10
        rounds = [deleted]
        while cursor != 1:  # the end of the bucket: the next sweep starts over
            deleted, cursor = await store.sweep(cursor, 10, live)
            rounds.append(deleted)
            assert len(rounds) < 8  # the deletes' own tombstones are read once, then the end
        assert sum(rounds) == 15
        assert await _claim_keys(node) == ["echo.mine"]
        # Those tombstones are purged as they are read: one more full pass leaves one message.
        while True:
            deleted, cursor = await store.sweep(cursor, 10, live)
            if cursor == 1:
                break
        info = await node.nc.jetstream().stream_info(f"KV_{prefix}_sessions")
        assert info.state.messages == 1
