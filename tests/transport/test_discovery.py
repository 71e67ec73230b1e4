"""Discovery: every node answers once; a gather ends soon after the last answer."""

from __future__ import annotations

import time

from coagent.core import AgentSpec, new
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from tests.kit import Stateful
from tests.transport.conftest import fresh_prefix


async def test_nodes_agents_and_trees_come_from_every_node_and_end_early(nats_server: NATSServer) -> None:
    prefix = fresh_prefix()
    a = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix)
    b = NATSRuntime(nats_server.url, name=f"{prefix}-b", prefix=prefix)
    client = NATSRuntime(nats_server.url, prefix=prefix, announce=False)
    async with a, b, client:
        await a.register(AgentSpec("echo", new(Stateful), description="echoes"))
        await b.register(AgentSpec("team.billing", new(Stateful), description="bills"))
        start = time.monotonic()
        assert await client.nodes(timeout=5) == [a.name, b.name]  # the client is no node
        assert time.monotonic() - start < 2  # quiet after the last answer, not the full 5 s
        infos = await client.agents(timeout=5)
        assert [(i.name, i.node, i.description) for i in infos] == [
            ("echo", a.name, "echoes"), ("team.billing", b.name, "bills"),
        ]
        assert [t.node for t in await client.cluster_tree(timeout=5)] == [a.name, b.name]
        assert await a.discover("team") == [("team.billing", "bills")]
        assert await client.discover() == [("echo", "echoes"), ("team.billing", "bills")]
