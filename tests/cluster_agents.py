"""Agents served by the node processes of the multi-process NATS tests.

Loaded by ``coagent node tests/cluster_agents.py`` in each node process and
imported by the tests (for the message types).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from coagent import Actor, Context, Message, handler
from coagent.core import AgentSpec, ChildSpec, Supervisor, new


class CPing(Message):
    n: int = 0


class CPong(Message):
    count: int = 0
    node: str = ""
    pid: int = 0


class CCount(Message):
    n: int = 3
    delay: float = 0.0


class CTick(Message):
    i: int = 0


class CSleep(Message):
    seconds: float = 1.0


class Counter(Actor):
    """Counts pings per session instance and says which process served them."""

    def __init__(self) -> None:
        self.count = 0

    @handler
    async def ping(self, msg: CPing, ctx: Context) -> CPong:
        self.count += 1
        return CPong(count=self.count, node=os.environ.get("COAGENT_NODE", ""), pid=os.getpid())

    @handler
    async def ticks(self, msg: CCount, ctx: Context) -> AsyncIterator[CTick]:
        for i in range(msg.n):
            if msg.delay:
                await asyncio.sleep(msg.delay)
            yield CTick(i=i)

    @handler
    async def sleep(self, msg: CSleep, ctx: Context) -> CPong:
        await asyncio.sleep(msg.seconds)
        return CPong(count=-1)


counter = AgentSpec("counter", new(Counter), description="counts pings per session")
team = AgentSpec(
    "team",
    new(Supervisor, children=[ChildSpec("a", new(Counter)), ChildSpec("b", new(Counter))]),
    description="a supervisor with two counters",
)
billing = AgentSpec("team.billing", new(Counter), description="billing support")
