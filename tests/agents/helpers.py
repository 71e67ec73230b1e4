"""Shared bits of the agents tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from coagent.agents.model import import_litellm


def warm_litellm() -> None:
    """Import litellm once up front, so the first HTTP call in a test is not 4 s slow."""
    import_litellm()


async def collect(stream: AsyncIterator[Any], timeout: float = 10.0) -> list[Any]:
    """Everything a stream yields, failing (not hanging) past ``timeout``."""

    async def run() -> list[Any]:
        return [item async for item in stream]

    return await asyncio.wait_for(run(), timeout)


class Concurrency:
    """Counts how many calls run at the same time."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.order: list[str] = []

    async def hold(self, label: str, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
            self.order.append(label)
        finally:
            self.now -= 1


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.monotonic()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start
