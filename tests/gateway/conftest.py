from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from coagent.core import AgentSpec, new
from coagent.gateway import Gateway
from coagent.runtimes import LocalRuntime
from tests.gateway.agents import EVENTS, Echo, echo


class Served:
    """A LocalRuntime with agents, a Gateway in front of it on a free port, and a client."""

    def __init__(self, runtime: LocalRuntime, gateway: Gateway, client: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.gateway = gateway
        self.client = client
        self.url = gateway.url

    async def sessions(self, name: str) -> list[str]:
        tree = await self.runtime.tree()
        return [s.session for a in tree.agents if a.name == name for s in a.sessions]


@pytest.fixture(autouse=True)
def _clear_events() -> None:
    EVENTS.clear()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    """``await serve(**gateway_options)``: a running gateway (stopped after the test)."""
    stack: list[Served] = []

    async def start(specs: list[AgentSpec] | None = None, **options: Any) -> Served:
        runtime = LocalRuntime(default_timeout=10.0)
        await runtime.start()
        for spec in specs if specs is not None else [
            AgentSpec("echo", new(Echo), description=echo.description),
        ]:
            await runtime.register(spec)
        ssl_context = options.pop("_ssl", None)
        gateway = Gateway(runtime, **options)
        await gateway.start("127.0.0.1", 0, ssl_context=ssl_context)
        client = httpx.AsyncClient(base_url=gateway.url, timeout=10.0)
        served = Served(runtime, gateway, client)
        stack.append(served)
        return served

    yield start
    for served in stack:
        await served.client.aclose()
        await served.gateway.stop()
        await served.runtime.stop()


@pytest.fixture
async def served(serve: Callable[..., Any]) -> Served:
    return await serve()  # type: ignore[no-any-return]


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds (the loop keeps running meanwhile)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.02)
