"""Discovery: scatter-gather to every node (``coagent agents``, ``coagent tree``, ``ctx.discover``).

::

    discovery = Discovery(conn, subjects, node)
    subs = await discovery.answer()              # this node answers ping/agents/tree
    names = await discovery.nodes(timeout=1.0)   # every node on the prefix
    infos = await discovery.agents(timeout=1.0)  # AgentInfo per (type, node)

A request goes to ``P.sys.<what>`` with a fresh inbox as its reply subject; every node
answers once; the gather ends ``timeout`` s after the request, or 0.25 s after the last
answer (whichever is first), as the NATS services API (ADR-32) discovery does.

Why not ``nats.micro`` (nats-py's ADR-32 services API, present in nats-py 2.16):
it is the *serving* half only (``$SRV.PING/INFO/STATS`` responders and endpoints; no
gather on the asking side, which is what ``coagent agents``/``tree`` need), its
``INFO`` schema has no place for a node's live sessions, and its endpoints cost too
much to carry agent calls: ``benchmarks/nats_libs.py`` measures a ``nats.micro``
endpoint at 0.32-0.92x the requests/s of a plain subscription answering the same
requests (four runs, asyncio and uvloop) (per-request ``Request`` objects, timing and stats). So the agent subjects
stay plain subscriptions and discovery keeps its own small scatter-gather, in the
same request/reply shape.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from coagent.supervision.tree import NodeTree
from coagent.transport.base import InboundNode
from coagent.transport.nats.connection import Connection, quietly
from coagent.transport.subjects import Subjects

__all__ = ["Discovery", "AgentInfo"]

log = logging.getLogger("coagent.nats")

#: Seconds without a new answer after which a gather stops early.
QUIET = 0.25


class AgentInfo(msgspec.Struct):
    """An agent type as announced by one node (``coagent agents``)."""

    name: str
    description: str
    node: str
    kind: str = ""


class Discovery:
    """Answers and asks the cluster-wide ``ping``, ``agents`` and ``tree`` requests."""

    def __init__(self, conn: Connection, subjects: Subjects, node: InboundNode) -> None:
        self.conn = conn
        self.subjects = subjects
        self.node = node
        #: Seconds a cluster-wide agent list is reused by :meth:`discover`.
        self.ttl = 1.0
        self._cached: tuple[float, list[tuple[str, str]]] | None = None

    async def answer(self) -> list[Any]:
        """Answer discovery (and liveness pings) as this node; returns the subscriptions."""
        nc, subjects = self.conn.nc, self.subjects
        return [
            await nc.subscribe(subjects.ping(subjects.node), cb=self._on_ping),
            await nc.subscribe(subjects.sys("ping"), cb=self._on_ping),
            await nc.subscribe(subjects.sys("agents"), cb=self._on_agents),
            await nc.subscribe(subjects.sys("tree"), cb=self._on_tree),
        ]

    async def _on_ping(self, msg: Any) -> None:
        if msg.reply:
            self.conn.publish(msg.reply, self.subjects.node.encode(), None)

    async def _on_agents(self, msg: Any) -> None:
        if not msg.reply:
            return
        infos = [
            AgentInfo(name=spec.name, description=spec.description, node=self.subjects.node,
                      kind=getattr(spec.actor_class, "__name__", ""))
            for spec in self.node.specs()
        ]
        self.conn.publish(msg.reply, msgspec.json.encode(infos), None)

    async def _on_tree(self, msg: Any) -> None:
        if msg.reply:
            self.conn.publish(msg.reply, msgspec.json.encode(await self.node.tree()), None)

    # ------------------------------------------------------------------ asking

    async def scatter(self, what: str, timeout: float) -> list[bytes]:
        """Every node's answer to ``P.sys.<what>`` within ``timeout`` s."""
        nc = self.conn.client()
        inbox = nc.new_inbox()
        replies: list[bytes] = []
        arrived = asyncio.Event()

        async def collect(msg: Any) -> None:
            replies.append(msg.data)
            arrived.set()

        sub = await nc.subscribe(inbox, cb=collect)
        try:
            await nc.publish(self.subjects.sys(what), b"", reply=inbox)
            await nc.flush()
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            quiet = min(QUIET, timeout)
            while True:
                left = end - loop.time()
                if left <= 0:
                    break
                arrived.clear()
                try:
                    async with asyncio.timeout(quiet if replies else left):
                        await arrived.wait()
                except TimeoutError:
                    if replies:
                        break
        finally:
            await quietly(sub.unsubscribe())
        return replies

    async def nodes(self, timeout: float = 1.0) -> list[str]:
        return sorted(r.decode() for r in await self.scatter("ping", timeout))

    async def agents(self, timeout: float = 1.0) -> list[AgentInfo]:
        out: list[AgentInfo] = []
        for blob in await self.scatter("agents", timeout):
            try:
                out.extend(msgspec.json.decode(blob, type=list[AgentInfo]))
            except msgspec.DecodeError:
                log.warning("a node sent an unreadable agent list")
        return sorted(out, key=lambda a: (a.name, a.node))

    async def discover(self) -> list[tuple[str, str]]:
        """``(name, description)`` of every type on any node (cached for :attr:`ttl` s)."""
        loop = asyncio.get_running_loop()
        cached = self._cached
        if cached is None or loop.time() - cached[0] > self.ttl:
            infos = await self.agents(timeout=0.3)
            cached = self._cached = (loop.time(), [(i.name, i.description) for i in infos])
        return cached[1]

    async def trees(self, timeout: float = 1.0) -> list[NodeTree]:
        trees = []
        for blob in await self.scatter("tree", timeout):
            try:
                trees.append(msgspec.json.decode(blob, type=NodeTree))
            except msgspec.DecodeError:
                log.warning("a node sent an unreadable tree")
        return sorted(trees, key=lambda t: t.node)
