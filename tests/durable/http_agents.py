"""The durable counter that ``coagent node --server http://...`` processes serve in the HTTP tests."""

from __future__ import annotations

from coagent.actors.context import Context
from coagent.actors.handler import handler
from coagent.core import AgentSpec, new
from tests.durable.agents import Add, Counter, Total


class LaggingCounter(Counter):
    """Takes 100 ms per addend, so that tells accepted at once wait in its inbox."""

    @handler
    async def add(self, msg: Add, ctx: Context) -> Total:
        import asyncio

        await asyncio.sleep(0.1)
        return await Counter.add(self, msg, ctx)


counter = AgentSpec("counter", new(LaggingCounter), durable=True)
