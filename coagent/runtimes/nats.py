"""``NATSRuntime``: the same actors across processes and machines, over NATS.

::

    async with NATSRuntime.from_servers("nats://localhost:4222") as runtime:
        await runtime.register(translator)
        await idle_loop()

A ``Node`` wired to a :class:`~coagent.transport.nats.NATSTransport` (this module is
wiring only). A call to an actor that lives on this node never touches the network;
a call to one elsewhere goes over NATS (``docs/wire.md``). A session lives on exactly
one node: the first message to a new session is load-balanced over the nodes serving
its agent type (a queue group), and the node that receives it claims the session in
a JetStream key-value bucket before serving it. Callers remember each session's
owner and talk to it directly afterwards.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from typing import Any

from coagent.actors.address import Address
from coagent.errors import StoreError
from coagent.runtimes.node import DEFAULT_TIMEOUT, Node
from coagent.store.base import StateStore
from coagent.supervision.tree import NodeTree
from coagent.transport.nats import AgentInfo, NATSTransport
from coagent.transport.nats.discovery import Discovery
from coagent.transport.subjects import Subjects, validate_token

__all__ = ["NATSRuntime", "AgentInfo"]

log = logging.getLogger("coagent.runtimes")


def _default_node_name() -> str:
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


class NATSRuntime(Node):
    """A node connected to NATS; a drop-in for ``LocalRuntime``.

    Args:
        servers: one URL or a list (``nats://user:pass@host:4222``, ``tls://...``).
        name: this node's name, unique in the cluster (default: host, pid and a random suffix).
        prefix: the subject prefix shared by the cluster (default ``coagent``).
        default_timeout: seconds a call may take when the caller gives none.
        claim_ttl: seconds this node's claims survive it without it renewing its lease
            (a killed node's sessions move at once anyway: its connection is gone).
        claim_sweep_interval: seconds between two sweeps that delete the claims of nodes
            whose lease is gone (killed without stopping); default ``2 * claim_ttl``. One
            node sweeps at a time, at most 1,000 keys a sweep.
        debug: send server tracebacks with error replies.
        announce: answer discovery (``coagent tree``/``agents``) and own sessions; the CLI's
            client connections pass ``False`` so that they do not show up as nodes.
        connect_deadline: seconds the first connection may take (then ``TransportError``).
        store: where durable agent types keep their sessions: by default JetStream on this
            connection (``JetStreamStore``); a store or a SQLite path instead; ``False``: none.
        redeliver_after: seconds an accepted durable message may stay unacknowledged (its
            node died) before a node serving its type delivers it again.
        dedup_window: seconds the default JetStream store refuses a durable message whose id
            it stored before (a sender's retry); default 24 hours. Retries later than that
            are delivered again. Ignored with another ``store``.
        **connect_options: passed to ``nats.connect`` (``user_credentials``, ``nkeys_seed``,
            ``tls``, ``token``, ``max_reconnect_attempts``, ``reconnect_time_wait``, ...).
    """

    runtime_kind = "nats"
    transport: NATSTransport

    def __init__(
        self,
        servers: str | list[str] = "nats://localhost:4222",
        *,
        name: str | None = None,
        prefix: str = "coagent",
        default_timeout: float = DEFAULT_TIMEOUT,
        claim_ttl: float = 15.0,
        claim_sweep_interval: float | None = None,
        debug: bool = False,
        announce: bool = True,
        connect_deadline: float = 5.0,
        store: StateStore | str | bool | None = None,
        redeliver_after: float = 30.0,
        dedup_window: float | None = None,
        **connect_options: Any,
    ) -> None:
        if dedup_window is not None and not dedup_window >= 1:
            raise ValueError(f"dedup_window must be at least 1 second, got {dedup_window!r}")
        node_name = validate_token(name, "node name") if name else _default_node_name()
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        transport = NATSTransport(
            self.servers, name=node_name, prefix=prefix, claim_ttl=claim_ttl, debug=debug,
            announce=announce, claim_sweep_interval=claim_sweep_interval,
            connect_deadline=connect_deadline, **connect_options,
        )
        given = store if not isinstance(store, bool) else None
        super().__init__(name=node_name, default_timeout=default_timeout, transport=transport,
                         store=given, redeliver_after=redeliver_after)
        #: ``None``: durable types keep their sessions in JetStream on this connection.
        self._jetstream_store = store is None or store is True
        self._prefix = prefix
        self._redeliver_after = redeliver_after
        self._dedup_window = dedup_window
        self.announce = announce
        self.debug = debug

    async def start(self) -> None:
        await super().start()
        if self.durable is None and self._jetstream_store:
            from coagent.runtimes.durable import DurableDelivery
            from coagent.store.jetstream import JetStreamStore

            js_store = (JetStreamStore(self.nc, prefix=self._prefix) if self._dedup_window is None
                        else JetStreamStore(self.nc, prefix=self._prefix,
                                            dedup_window=self._dedup_window))
            durable = DurableDelivery(
                self, js_store,
                redeliver_after=self._redeliver_after)
            try:
                await durable.start()
            except StoreError as exc:
                log.warning("no durable sessions on this node (%s)", exc)
            else:
                self.durable = durable

    async def _owner_lost(self, address: Address) -> bool:
        placement = self.transport.placement
        owner = placement.owners.get(address)
        if owner is None or owner == self.name:
            return False
        if await placement.is_connected(owner):
            return False
        placement.forget_owner(address)
        return True

    @classmethod
    def from_servers(cls, servers: str | list[str] = "nats://localhost:4222", **options: Any) -> NATSRuntime:
        """The seed's constructor: ``NATSRuntime.from_servers("nats://localhost:4222")``."""
        return cls(servers, **options)

    @property
    def node_name(self) -> str:
        return self.name

    @property
    def subjects(self) -> Subjects:
        """The subjects of this node's prefix."""
        return self.transport.subjects

    @property
    def nc(self) -> Any:
        """The nats-py connection (``None`` before start and after stop)."""
        return self.transport.conn.nc

    @property
    def claims(self) -> Any:
        """The claim store (``None`` without JetStream)."""
        return self.transport.placement.claims

    async def is_alive(self, node: str) -> bool:
        """Whether node ``node`` answers its liveness ping."""
        return await self.transport.placement.is_connected(node)

    async def nodes(self, timeout: float = 1.0) -> list[str]:
        """Names of every node answering on this prefix."""
        return await self._discovery().nodes(timeout)

    async def agents(self, timeout: float = 1.0) -> list[AgentInfo]:
        """Every agent type registered on any node (one entry per node serving it)."""
        return await self._discovery().agents(timeout)

    async def cluster_tree(self, timeout: float = 1.0) -> list[NodeTree]:
        """The supervision tree of every node on this prefix."""
        return await self._discovery().trees(timeout)

    def _discovery(self) -> Discovery:
        discovery = self.transport.discovery
        if discovery is None or self.nc is None:
            from coagent.errors import RuntimeNotStarted

            raise RuntimeNotStarted(f"node {self.name} is not connected")
        return discovery
