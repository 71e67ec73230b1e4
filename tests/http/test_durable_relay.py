"""A tell to a durable type served over HTTP returns once it is stored, whoever sends it.

The senders here are not HTTP clients (whose ``POST .../tell`` waits for the serving
process's store): a NATS node, and an agent in the gateway's own process. The gateway keeps
their tells in its own store (JetStream when it bridges NATS, ``--store`` as a hub) until
the serving process has stored them, so killing that process with -9 (and the gateway too)
loses none, and a retry is applied once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from coagent import Address
from coagent.errors import CoagentError
from coagent.runtimes import NATSRuntime
from coagent.testing.ports import free_port
from tests.durable.agents import Add, Get, Total
from tests.gateway.test_command import Proc, procs, start_gateway

__all__ = ["procs"]

SERVED = "tests/durable/http_agents.py"  # the durable counter, 100 ms per addend
SENDER = "tests/http/durable_relay_agents.py"
GET = "/v1/agents/counter/sessions/c1/call"
FAN = "/v1/agents/fanout/sessions/f1/call"


def _serve(procs: list[Proc], url: str, db: Path) -> Proc:
    node = Proc("node", SERVED, "--server", url, "--store", str(db))
    procs.append(node)
    node.wait_for(r"serving \[counter\]")
    return node


def _total_over_http(url: str, expected: int, timeout: float = 90.0) -> dict[str, Any]:
    """The counter's state once it has seen ``expected`` addends (or what it has at the end)."""
    deadline = time.monotonic() + timeout
    content: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = httpx.post(f"{url}{GET}", json={"type": "Get", "content": {}}, timeout=30)
        if r.status_code == 200:
            content = r.json()["content"]
            if len(content["seen"]) >= expected:
                return content
        time.sleep(0.2)
    return content


def test_tells_from_an_agent_in_the_gateway_survive_kill_9_of_the_serving_process_and_the_gateway(
        procs: list[Proc], tmp_path: Path) -> None:
    port = free_port()
    listen = ("--listen", f"127.0.0.1:{port}")
    gw_db, node_db = tmp_path / "gateway.db", tmp_path / "node.db"
    gateway, url = start_gateway(procs, *listen, "--agents", SENDER, "--store", str(gw_db))
    node = _serve(procs, url, node_db)
    # Frozen, the serving process can store nothing: each tell must be kept by the gateway.
    os.kill(node.proc.pid, signal.SIGSTOP)
    r = httpx.post(f"{url}{FAN}", json={"type": "Fan", "content": {"start": 0, "count": 20}},
                   headers={"Coagent-Timeout": "30"}, timeout=40)
    assert r.status_code == 200 and r.json()["content"] == {"count": 20}, r.text
    node.stop(signal.SIGKILL)
    gateway.stop(signal.SIGKILL)  # every node dies before a single addend is handled
    gateway, url = start_gateway(procs, *listen, "--agents", SENDER, "--store", str(gw_db))
    # No process serves the counter now: the gateway's store still takes its tells.
    r = httpx.post(f"{url}{FAN}", json={"type": "Fan", "content": {"start": 20, "count": 10}},
                   headers={"Coagent-Timeout": "30"}, timeout=40)
    assert r.status_code == 200 and r.json()["content"] == {"count": 10}, r.text
    _serve(procs, url, node_db)
    total = _total_over_http(url, 30)
    assert sorted(total["seen"]) == list(range(30))  # each exactly once
    assert total["n"] == sum(range(30))
    assert "Traceback" not in "".join(gateway.lines)


async def _tell_all(sender: NATSRuntime, numbers: range) -> None:
    for i in numbers:
        await sender.tell(Address("counter", "c1"), Add(n=i), timeout=30)


async def _total_over_nats(sender: NATSRuntime, expected: int, timeout: float = 90.0) -> Total:
    deadline = time.monotonic() + timeout
    total = Total()
    while time.monotonic() < deadline:
        try:
            total = await sender.ask(Address("counter", "c1"), Get(), timeout=20)
        except CoagentError:  # the serving process may be registering again
            await asyncio.sleep(0.2)
            continue
        if len(total.seen) >= expected:
            return total
        await asyncio.sleep(0.2)
    return total


async def test_tells_from_a_nats_node_survive_kill_9_of_the_process_serving_over_http(
        nats_server: Any, procs: list[Proc], tmp_path: Path) -> None:
    node_db = tmp_path / "node.db"
    _, url = start_gateway(procs, "--server", nats_server.url, "--prefix", "relay")
    node = _serve(procs, url, node_db)
    async with NATSRuntime(nats_server.url, prefix="relay", name="sender", default_timeout=20.0) as sender:
        # Each returns once in the cluster's JetStream inbox; the counter takes 100 ms each,
        # so most of them wait when its process is killed.
        await _tell_all(sender, range(20))
        node.stop(signal.SIGKILL)
        await _tell_all(sender, range(20, 30))  # no process serves the type: still stored
        _serve(procs, url, node_db)
        total = await _total_over_nats(sender, 30)
    assert sorted(total.seen) == list(range(30))  # each exactly once
    assert total.n == sum(range(30))
