"""``NATSTransport``: the :class:`~coagent.transport.base.Transport` over NATS.

::

    transport = NATSTransport(["nats://localhost:4222"], name="node-a", prefix="coagent")
    node = Node(name="node-a", transport=transport)     # what NATSRuntime wires up
    async with node:
        ...

It composes the parts, each in its own module: the connection and its outbox
(:mod:`.connection`), the caller's side (:mod:`.caller`), the serving side
(:mod:`.serving`), placement of sessions (:mod:`.placement`, :mod:`.claims`) and
discovery (:mod:`.discovery`). The wire is described in ``docs/wire.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.errors import DeadlineExceeded, NodeAlreadyRunning
from coagent.supervision.spec import AgentSpec
from coagent.transport.base import InboundNode, OpenStream, Route, StreamDecoder
from coagent.transport.nats.caller import Caller
from coagent.transport.nats.connection import Connection, quietly
from coagent.transport.nats.discovery import Discovery
from coagent.transport.nats.placement import Placement
from coagent.transport.nats.serving import Serving
from coagent.transport.subjects import Subjects
from coagent.transport.wire import KIND_ASK, KIND_TELL

__all__ = ["NATSTransport"]


class NATSTransport:
    """Calls to other nodes over NATS, and theirs to this node."""

    def __init__(self, servers: list[str], *, name: str, prefix: str = "coagent",
                 claim_ttl: float = 15.0, debug: bool = False, announce: bool = True,
                 connect_deadline: float = 5.0, claim_sweep_interval: float | None = None,
                 **connect_options: Any) -> None:
        self.name = name
        self.announce = announce
        self.debug = debug
        self.subjects = Subjects(prefix, name)
        self.conn = Connection(servers, name=name, connect_deadline=connect_deadline,
                               on_reconnected=self._on_reconnected, **connect_options)
        self.placement = Placement(self.conn, self.subjects, lease_ttl=claim_ttl,
                                   sweep_interval=claim_sweep_interval)
        self.caller: Caller | None = None
        self.serving: Serving | None = None
        self.discovery: Discovery | None = None
        self._liveness: list[Any] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---------------------------------------------------------------- lifecycle

    async def start(self, node: InboundNode) -> None:
        self.node = node
        await self.conn.connect()
        try:
            await self._start()
        except BaseException:
            await self.conn.close()
            raise

    async def _start(self) -> None:
        node, nc = self.node, self.conn.nc
        self.caller = Caller(self.conn, self.subjects, self.placement, node.deadlines.at)
        self.discovery = Discovery(self.conn, self.subjects, node)
        if self.announce and await self.placement.is_connected(self.name):
            raise NodeAlreadyRunning(f"a node named {self.name!r} is already running", node=self.name)
        await self.caller.start()
        if self.announce:
            self.serving = Serving(self.conn, self.subjects, self.placement, self.caller, node,
                                   debug=self.debug)
            await self.serving.start()
            self._liveness = await self.discovery.answer()
        await nc.flush()
        if self.announce:
            await self.placement.open()
            self._spawn(self.placement.keep_lease())
            self._spawn(self.placement.keep_sweeping())

    async def stop_intake(self) -> None:
        # First stop looking alive and taking sessions: from now on other nodes take this
        # node's sessions over on their next message instead of forwarding them here.
        self.placement.closing = True  # sessions about to stop keep their claims for stop()
        if self.serving is not None:
            await self.serving.stop_intake()
        ping = self.subjects.ping(self.name)
        for sub in self._liveness:
            if sub.subject == ping:
                await quietly(sub.unsubscribe())
        if self.conn.nc is not None:
            await quietly(self.conn.nc.flush(timeout=1))

    async def stop(self) -> None:
        if self.conn.nc is None:
            return
        if not self.conn.nc.is_closed:
            await self.placement.release_all()
        for task in list(self._tasks):
            task.cancel()
        if self.caller is not None:
            self.caller.close()
        if self.serving is not None:
            self.serving.stop()
        await self.conn.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_reconnected(self) -> None:
        if self.announce:
            self._spawn(self._reassert())

    async def _reassert(self) -> None:
        # The server may have come back with an empty store: buckets, lease and claims again;
        # sessions another node claimed meanwhile stop here (when idle).
        for key in await self.placement.reassert():
            name, _, session = key.rpartition(".")
            await self.node.passivate(Address(name, session))

    # -------------------------------------------------------------- registration

    async def serve(self, spec: AgentSpec) -> None:
        if self.serving is not None:
            await self.serving.serve(spec.name)

    async def withdraw(self, names: Sequence[str]) -> None:
        if self.serving is not None:
            await self.serving.withdraw(tuple(names))
        # Their sessions are gone from here: let other nodes serving the types claim them.
        prefixes = tuple(f"{name}." for name in names)
        await self.placement.release([k for k in self.placement.claimed if k.startswith(prefixes)])

    def session_ended(self, type_name: str, session: str) -> None:
        self.placement.session_ended(type_name, session)

    # --------------------------------------------------------------------- calls

    async def place(self, address: Address, deadline: float) -> Route | None:
        type_name = self.node.type_of(address.name)
        if type_name is None:
            return Route(self.placement.owners.get(address, ""))
        try:
            async with asyncio.timeout_at(deadline):
                owner = await self.placement.claim(type_name, address.session)
        except TimeoutError:
            raise DeadlineExceeded(f"claiming {address} did not finish in time") from None
        return None if owner == self.name else Route(owner)

    def _caller(self) -> Caller:
        caller = self.caller
        if caller is None:
            from coagent.errors import RuntimeNotStarted

            raise RuntimeNotStarted(f"node {self.name} is not connected")
        return caller

    def ask(self, route: Route, address: Address, raw: RawMessage, deadline: float,
            sender: Address | None, explicit: bool) -> Awaitable[RawMessage | None]:
        # The caller's coroutine itself: no frame of ours per call (the hot path).
        return self._caller().request(address, raw, KIND_ASK, deadline, sender, route, explicit)

    async def tell(self, route: Route, address: Address, raw: RawMessage, deadline: float,
                   sender: Address | None, explicit: bool) -> None:
        await self._caller().request(address, raw, KIND_TELL, deadline, sender, route, explicit)

    def open_stream(self, route: Route, address: Address, raw: RawMessage, deadline: float,
                    sender: Address | None, explicit: bool,
                    decode: StreamDecoder | None) -> Awaitable[OpenStream]:
        return self._caller().open_stream(address, raw, deadline, sender, route, explicit, decode)

    def calls_in_flight(self) -> int:
        """Calls sent and not answered yet, plus calls served and not answered (a metric)."""
        caller, serving = getattr(self, "caller", None), getattr(self, "serving", None)
        return (len(caller._pending) if caller is not None else 0) + (
            len(serving.calls) if serving is not None else 0)

    async def discover(self, namespace: str) -> list[tuple[str, str]]:
        if self.discovery is None:
            return []
        return await self.discovery.discover()
