"""``LocalTransport``: the in-process router's transport, for which nothing is elsewhere.

::

    runtime = Node(transport=LocalTransport())     # what LocalRuntime is
    await runtime.ask(Address("nobody", "s1"), Ping())   # AgentNotFound, at once

Every address is placed on this node, so the node delivers every call to its own
mailboxes (no serialisation) and an address it does not serve is ``AgentNotFound``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from coagent.actors.address import Address
from coagent.errors import AgentNotFound
from coagent.transport.base import InboundNode, OpenStream, Route, StreamDecoder

if TYPE_CHECKING:
    from coagent.actors.message import RawMessage
    from coagent.supervision.spec import AgentSpec

__all__ = ["LocalTransport"]


class LocalTransport:
    """The :class:`~coagent.transport.base.Transport` of a single process."""

    async def start(self, node: InboundNode) -> None:
        self.node = node

    async def stop_intake(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def serve(self, spec: AgentSpec) -> None:
        return None

    async def withdraw(self, names: Sequence[str]) -> None:
        return None

    def session_ended(self, type_name: str, session: str) -> None:
        return None

    async def place(self, address: Address, deadline: float) -> Route | None:
        return None  # everything that exists lives here

    def _nowhere(self, address: Address) -> AgentNotFound:
        return AgentNotFound(f"no agent {address.name!r} in this process", address=str(address))

    async def ask(self, route: Route, address: Address, raw: RawMessage, deadline: float,
                  sender: Address | None, explicit: bool) -> RawMessage | None:
        raise self._nowhere(address)

    async def tell(self, route: Route, address: Address, raw: RawMessage, deadline: float,
                   sender: Address | None, explicit: bool) -> None:
        raise self._nowhere(address)

    async def open_stream(self, route: Route, address: Address, raw: RawMessage, deadline: float,
                          sender: Address | None, explicit: bool,
                          decode: StreamDecoder | None) -> OpenStream:
        raise self._nowhere(address)

    async def discover(self, namespace: str) -> list[tuple[str, str]]:
        return []
