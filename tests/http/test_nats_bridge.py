"""A gateway on NATS bridges both ways: HTTP-served agents and cluster agents reach each other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from coagent.actors.address import Address
from coagent.core import AgentSpec, new
from coagent.gateway import Gateway
from coagent.runtimes import HTTPRuntime, NATSRuntime
from coagent.testing.nats_server import NATSServer
from tests.gateway.agents import Echo, GCount, GPing, GPong, GTick


@pytest.fixture
async def bridge(nats_server: NATSServer) -> AsyncIterator[tuple[NATSRuntime, HTTPRuntime, str]]:
    async with NATSRuntime.from_servers(nats_server.url, name="gw") as gw_node, \
            NATSRuntime.from_servers(nats_server.url, name="worker") as worker:
        await worker.register(AgentSpec("cluster_echo", new(Echo)))
        gateway = Gateway(gw_node)
        url = await gateway.start("127.0.0.1", 0)
        try:
            async with HTTPRuntime.from_server(url, name="httpnode") as http_node:
                await http_node.register(AgentSpec("http_echo", new(Echo)))
                yield worker, http_node, url
        finally:
            await gateway.stop()


async def test_a_nats_node_calls_an_agent_served_over_http(bridge: tuple[NATSRuntime, HTTPRuntime, str]) -> None:
    worker, _, _ = bridge
    assert await worker.ask(Address("http_echo", "s1"), GPing(n=5), timeout=10) == GPong(n=5)
    ticks = [t async for t in worker.stream(Address("http_echo", "s1"), GCount(n=3), timeout=10)]
    assert ticks == [GTick(i=0), GTick(i=1), GTick(i=2)]
    names = {a.name for a in await worker.agents()}
    assert {"http_echo", "cluster_echo"} <= names


async def test_an_http_runtime_calls_an_agent_on_a_nats_node(bridge: tuple[NATSRuntime, HTTPRuntime, str]) -> None:
    _, http_node, url = bridge
    assert await http_node.ask(Address("cluster_echo", "s1"), GPing(n=6), timeout=10) == GPong(n=6)
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.get("/v1/agents")
        rows = {row["name"]: row for row in r.json()["agents"]}
    assert {"http_echo", "cluster_echo"} <= set(rows)
