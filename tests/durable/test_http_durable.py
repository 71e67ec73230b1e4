"""Durable types over HTTP: ``Idempotency-Key`` through the gateway, and an ``HTTPRuntime``
process with a SQLite store that is killed with -9 while its tells wait in its inbox."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from coagent.core import AgentSpec, new
from coagent.gateway import Gateway
from coagent.runtimes import LocalRuntime
from coagent.store.sqlite import SQLiteStore
from coagent.testing.ports import free_port
from tests.durable.agents import Counter
from tests.gateway.test_command import Proc, procs, start_gateway

__all__ = ["procs"]

AGENTS = "tests/durable/http_agents.py"
TELL = "/v1/agents/counter/sessions/{session}/tell"
CALL = "/v1/agents/counter/sessions/{session}/call"


async def _gateway(db: Path) -> tuple[LocalRuntime, Gateway, httpx.AsyncClient]:
    runtime = LocalRuntime(store=str(db), default_timeout=10.0)
    await runtime.start()
    await runtime.register(AgentSpec("counter", new(Counter), durable=True))
    gateway = Gateway(runtime)
    await gateway.start("127.0.0.1", 0)
    return runtime, gateway, httpx.AsyncClient(base_url=gateway.url, timeout=10.0)


async def _close(runtime: LocalRuntime, gateway: Gateway, client: httpx.AsyncClient) -> None:
    await client.aclose()
    await gateway.stop()
    await runtime.stop()


async def test_a_retried_tell_with_the_same_idempotency_key_is_applied_once_even_after_a_restart(
        tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    add = {"type": "Add", "content": {"n": 5}}
    runtime, gateway, client = await _gateway(db)
    try:
        first = await client.post(TELL.format(session="c1"), json=add, headers={"Idempotency-Key": "k1"})
        again = await client.post(TELL.format(session="c1"), json=add, headers={"Idempotency-Key": "k1"})
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json()["replayed"] is True  # this gateway remembers the key
    finally:
        await _close(runtime, gateway, client)
    # A new gateway process knows no keys: the store recognises the message id made from it.
    runtime, gateway, client = await _gateway(db)
    try:
        retried = await client.post(TELL.format(session="c1"), json=add, headers={"Idempotency-Key": "k1"})
        assert retried.status_code == 202 and retried.json()["replayed"] is False
        other = await client.post(TELL.format(session="c1"), json={"type": "Add", "content": {"n": 7}},
                                  headers={"Idempotency-Key": "k2"})
        assert other.status_code == 202
        plain = await client.post(TELL.format(session="c1"), json={"type": "Add", "content": {"n": 1}})
        assert plain.status_code == 202
        total = await client.post(CALL.format(session="c1"), json={"type": "Get", "content": {}})
        assert total.json()["content"] == {"n": 13, "seen": [5, 7, 1]}
        # The same key with another request is an error, not a replay (the gateway's check).
        elsewhere = await client.post(TELL.format(session="c2"), json=add, headers={"Idempotency-Key": "k1"})
        assert elsewhere.status_code == 422
    finally:
        await _close(runtime, gateway, client)


def _tell(url: str, i: int) -> int:
    r = httpx.post(f"{url}{TELL.format(session='c1')}", json={"type": "Add", "content": {"n": i}},
                   headers={"Idempotency-Key": f"add-{i}"}, timeout=30)
    return r.status_code


def _total(url: str) -> dict[str, Any]:
    r = httpx.post(f"{url}{CALL.format(session='c1')}", json={"type": "Get", "content": {}}, timeout=30)
    assert r.status_code == 200, r.text
    content: dict[str, Any] = r.json()["content"]
    return content


def _pending(db: Path) -> int:
    import asyncio

    async def count() -> int:
        async with SQLiteStore(db) as store:
            return len(await store.pending("counter"))

    return asyncio.run(count())


def test_tells_through_the_gateway_to_an_http_runtime_survive_its_kill_9_and_retries_are_not_applied_twice(
        procs: list[Proc], tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    port = free_port()
    gateway, url = start_gateway(procs, "--listen", f"127.0.0.1:{port}")
    node = Proc("node", AGENTS, "--server", url, "--store", str(db))
    procs.append(node)
    node.wait_for(r"serving \[counter\]")
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: _tell(url, i), range(120)))
    assert statuses == [202] * 120
    # Each 202 came after the node stored its tell; it applies one per 100 ms, so most wait.
    node.stop(signal.SIGKILL)
    assert _pending(db) > 0
    # The gateway restarts too (it forgets every key); the node comes back on the same store.
    gateway.stop(signal.SIGTERM)
    gateway, url = start_gateway(procs, "--listen", f"127.0.0.1:{port}")
    node = Proc("node", AGENTS, "--server", url, "--store", str(db))
    procs.append(node)
    node.wait_for(r"serving \[counter\]")
    with ThreadPoolExecutor(16) as pool:  # every client retries: the store knows each id
        statuses = list(pool.map(lambda i: _tell(url, i), range(120)))
    assert statuses == [202] * 120
    deadline = time.monotonic() + 60
    while _pending(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    total = _total(url)
    assert sorted(total["seen"]) == list(range(120))  # each exactly once
    assert total["n"] == sum(range(120))


async def test_two_gateways_of_a_nats_cluster_apply_a_keyed_tell_once(nats_server: Any) -> None:
    """The second gateway has never seen the key; the cluster's JetStream inbox has its id."""
    from coagent.runtimes import NATSRuntime

    prefix = "idem"
    node = NATSRuntime(nats_server.url, prefix=prefix, name="worker", default_timeout=10.0)
    gateways: list[tuple[NATSRuntime, Gateway, httpx.AsyncClient]] = []
    async with node:
        await node.register(AgentSpec("counter", new(Counter), durable=True))
        try:
            for i in range(2):
                runtime = NATSRuntime(nats_server.url, prefix=prefix, name=f"gw{i}", default_timeout=10.0)
                await runtime.start()
                gateway = Gateway(runtime)
                await gateway.start("127.0.0.1", 0)
                gateways.append((runtime, gateway, httpx.AsyncClient(base_url=gateway.url, timeout=10.0)))
            add = {"type": "Add", "content": {"n": 5}}
            for _runtime, _gateway, client in gateways:
                r = await client.post(TELL.format(session="c1"), json=add, headers={"Idempotency-Key": "k1"})
                assert r.status_code == 202 and r.json()["replayed"] is False
            client = gateways[1][2]
            r = await client.post(TELL.format(session="c1"), json={"type": "Add", "content": {"n": 1}},
                                  headers={"Idempotency-Key": "k2"})
            assert r.status_code == 202
            total = await client.post(CALL.format(session="c1"), json={"type": "Get", "content": {}})
            assert total.json()["content"] == {"n": 6, "seen": [5, 1]}
        finally:
            for runtime, gateway, client in gateways:
                await client.aclose()
                await gateway.stop()
                await runtime.stop()


def test_the_gateway_command_keeps_its_own_durable_agents_in_its_store(
        procs: list[Proc], tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    gateway, url = start_gateway(procs, "--agents", AGENTS, "--store", str(db))
    assert _tell(url, 3) == 202 and _tell(url, 4) == 202
    assert _total(url) == {"n": 7, "seen": [3, 4]}
    gateway.stop(signal.SIGKILL)
    _, url = start_gateway(procs, "--agents", AGENTS, "--store", str(db))
    assert _tell(url, 4) == 202  # a retried key: already applied before the kill
    assert _total(url) == {"n": 7, "seen": [3, 4]}
