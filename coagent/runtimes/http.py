"""``HTTPRuntime``: agents in this process, joined to the system through a Coagent gateway.

::

    async with HTTPRuntime.from_server("http://localhost:8000", auth="TOKEN") as runtime:
        await runtime.register(AgentSpec("ping", new(Ping)))    # served here, reached via the gateway
        pong = await runtime.ask(Address("pong", "s1"), Hi())   # an agent served anywhere else
        await idle_loop()

A ``Node`` wired to an :class:`~coagent.transport.http.HTTPTransport` (this module is
wiring only): a drop-in for ``LocalRuntime`` and ``NATSRuntime`` for processes that
cannot or should not speak NATS. Start the gateway with ``coagent gateway`` (alone it
is the hub; with ``--server nats://...`` its agents and the cluster's reach each other).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from typing import Any

import msgspec

from coagent.runtimes.node import DEFAULT_TIMEOUT, Node
from coagent.store.base import StateStore
from coagent.supervision.spec import AgentSpec
from coagent.supervision.tree import NodeTree
from coagent.transport.http import HTTPTransport
from coagent.transport.subjects import validate_token

__all__ = ["HTTPRuntime"]


def _default_node_name() -> str:
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


class HTTPRuntime(Node):
    """A node behind an HTTP gateway.

    Args:
        base_url: the gateway, ``http://host:8000`` or ``https://...``.
        auth: a bearer token the gateway accepts (``--auth`` there); ``""`` for none.
        name: this node's name (default: host, pid and a random suffix); a node that
            reconnects under the same name replaces its earlier registration at once.
        default_timeout: seconds a call may take when the caller gives none.
        store: where durable agent types served here keep their sessions (a
            :class:`~coagent.store.StateStore` or a SQLite path); ``None``: no durable types.
        redeliver_after: seconds an accepted durable message may stay unacknowledged
            before it is delivered again.
        **options: passed to :class:`~coagent.transport.http.HTTPTransport`
            (``connect_deadline``, ``backoff``, ``read_timeout``, ``ssl``, ``max_connections``).
    """

    runtime_kind = "http"
    transport: HTTPTransport

    def __init__(self, base_url: str = "http://localhost:8000", auth: str = "", *,
                 name: str | None = None, default_timeout: float = DEFAULT_TIMEOUT,
                 store: StateStore | str | None = None, redeliver_after: float = 30.0,
                 **options: Any) -> None:
        if not base_url.lower().startswith(("http://", "https://")):
            raise ValueError(f"HTTPRuntime needs an http:// or https:// URL, got {base_url!r}")
        node_name = validate_token(name, "node name") if name else _default_node_name()
        super().__init__(name=node_name, default_timeout=default_timeout,
                         transport=HTTPTransport(base_url, auth=auth, **options),
                         store=store, redeliver_after=redeliver_after)
        self.base_url = base_url

    async def register(self, spec: AgentSpec) -> None:
        """Serve ``spec`` here, reached through the gateway (see :meth:`Node.register`)."""
        serving = self.transport._serving
        if serving is None or not spec.durable:
            await super().register(spec)
            return
        # The gateway delivers as soon as the type's stream is ready, which is before the
        # node serves the type from its store: its deliveries wait for that.
        serving.hold(spec.name)
        try:
            await super().register(spec)
        finally:
            serving.release(spec.name)

    @classmethod
    def from_server(cls, base_url: str = "http://localhost:8000", auth: str = "", **options: Any) -> HTTPRuntime:
        """The seed's constructor: ``HTTPRuntime.from_server("http://localhost:8000", "TOKEN")``."""
        return cls(base_url, auth, **options)

    async def agents(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every agent type reachable through the gateway (``GET /v1/agents``)."""
        return await self.transport.get_json("/v1/agents", "agents", timeout)

    async def cluster_tree(self, timeout: float = 5.0) -> list[NodeTree]:
        """The supervision tree of every node the gateway reaches, and this one's.

        The gateway shows agents served over HTTP as its relay sessions; this node's own
        actors come from :meth:`tree`.
        """
        remote = [msgspec.convert(t, NodeTree) for t in await self.transport.get_json("/v1/tree", "nodes", timeout)]
        own = [await self.tree()] if self.specs() else []  # a CLI client serves nothing
        return [*own, *(t for t in remote if t.node != self.name)]
