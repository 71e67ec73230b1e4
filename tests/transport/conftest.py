"""Fixtures of the transport tests: NATS nodes on a real nats-server, each test its own prefix."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from coagent.core import AgentSpec, new
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from tests.kit import Stateful

T = 5.0


def fresh_prefix() -> str:
    return f"x{time.monotonic_ns() % 10**10}"


@pytest.fixture
async def trio(nats_server: NATSServer) -> AsyncIterator[tuple[NATSRuntime, NATSRuntime, NATSRuntime]]:
    """Nodes ``a`` and ``b`` serving ``echo`` and a client that serves nothing."""
    prefix = fresh_prefix()
    a = NATSRuntime(nats_server.url, name=f"{prefix}-a", prefix=prefix, default_timeout=T)
    b = NATSRuntime(nats_server.url, name=f"{prefix}-b", prefix=prefix, default_timeout=T)
    client = NATSRuntime(nats_server.url, prefix=prefix, announce=False, default_timeout=T)
    async with a, b, client:
        for node in (a, b):
            await node.register(AgentSpec("echo", new(Stateful)))
        yield a, b, client
