"""The ``Transport`` protocol: how envelopes leave this node and how they arrive.

A runtime is a :class:`~coagent.runtimes.node.Node` plus one transport. The node
delivers to the actors it serves; for any other address it asks its transport
where the address lives (:meth:`Transport.place`) and hands the call over. A
transport moves bytes (a :class:`RawMessage` out, a :class:`RawMessage` back)
and never runs a handler: what arrives from elsewhere it turns into an
:class:`~coagent.actors.envelope.Envelope` whose reply sink sends the answer
back, and gives that to the node (:meth:`InboundNode.deliver`)::

    class LoopbackTransport:                      # a transport in a few lines
        async def start(self, node: InboundNode) -> None:
            self.node = node
        async def stop_intake(self) -> None: ...
        async def stop(self) -> None: ...
        async def serve(self, name: str) -> None: ...          # type registered here
        async def withdraw(self, names: Sequence[str]) -> None: ...
        async def place(self, address: Address, deadline: float) -> Route | None:
            return None if self.node.type_of(address.name) else Route("peer")
        async def ask(self, route, address, raw, deadline, sender, explicit) -> RawMessage | None:
            return await self.peer.answer(address, raw, deadline)   # bytes over some wire
        ...

    runtime = Node(transport=LoopbackTransport())

The calls (``ask``, ``tell``, ``open_stream``) return awaitables: an implementation may be
``async def`` or hand back the awaitable of the layer below (one frame fewer per call).
Deadlines are absolute ``loop.time()`` seconds on both sides; a transport sends the
seconds *left* (clocks need not agree) and the receiving side turns them back
into an absolute deadline of its own, which the handler sees as ``ctx.remaining()``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import msgspec

from coagent.actors.address import Address

if TYPE_CHECKING:
    from coagent.actors.cell import Cell
    from coagent.actors.envelope import Envelope, ReplyChannel
    from coagent.actors.message import RawMessage
    from coagent.supervision.spec import AgentSpec
    from coagent.supervision.tree import NodeTree
    from coagent.transport.deadlines import DeadlineWheel

__all__ = ["Transport", "InboundNode", "Route", "OpenStream", "StreamDecoder", "ServedCall"]

#: Turns one streamed ``RawMessage`` into what the caller iterates over (may raise).
StreamDecoder = Callable[["RawMessage"], Any]


class Route(msgspec.Struct, frozen=True):
    """Where an address that is not served here lives, as far as the transport knows.

    ``node`` is the owning node's name, or ``""`` when only the agent type is known
    (NATS then load-balances the call over the nodes serving the type).
    """

    node: str = ""


class OpenStream(NamedTuple):
    """A stream the transport opened: items arrive in ``chan``; ``cancel`` gives up."""

    chan: ReplyChannel
    cancel: Callable[[], None]


class InboundNode(Protocol):
    """What a transport may ask of its node (implemented by ``Node``)."""

    name: str
    default_timeout: float
    #: The node's one deadline mechanism; ``deadlines.at(when, callback, *args)``.
    deadlines: DeadlineWheel

    def live_cell(self, address: Address) -> Cell | None:
        """The cell serving ``address`` here now, or ``None`` (never starts a session)."""

    async def resolve(self, address: Address) -> Cell:
        """The cell for ``address``, starting its session (``AgentNotFound`` if not served)."""

    def type_of(self, name: str) -> str | None:
        """The agent type registered here that serves actor ``name`` (itself or a parent)."""

    def deliver(self, cell: Cell, env: Envelope) -> bool:
        """Queue ``env`` if there is room (``False``: call :meth:`deliver_later`)."""

    async def deliver_later(self, cell: Cell, env: Envelope) -> None:
        """Queue ``env``, waiting for room until its deadline (then ``MailboxFull``)."""

    async def accept(self, address: Address, raw: RawMessage) -> RawMessage | None:
        """Store an inbound tell whose sender does not share this node's store (HTTP).

        For a durable type served here: the message with its id, once it is in the store
        (queue it then), or ``None`` if its id was stored before (a retry: drop it). For
        any other type ``raw`` as it is.
        """

    def expire_at(self, deadline: float, callback: Callable[..., None], *args: Any) -> Any:
        """Run ``callback(*args)`` at ``deadline``: the node's one deadline mechanism.

        Returns a handle with ``cancel()``.
        """

    def specs(self) -> list[AgentSpec]:
        """The agent types registered here."""

    def sessions_of(self, type_name: str) -> list[str]:
        """The live sessions of ``type_name`` here."""

    async def passivate(self, address: Address) -> bool:
        """Stop one idle session here (its owner is now another node)."""

    async def tree(self) -> NodeTree:
        """This node's supervision tree."""


class Transport(Protocol):
    """Carries calls to addresses this node does not serve, and brings calls in.

    Implementations: :class:`~coagent.transport.local.LocalTransport` (nothing is
    elsewhere) and :class:`~coagent.transport.nats.NATSTransport`; an HTTP transport
    implements the same methods (relaying to agents that remote processes registered
    with it, and delivering their inbound calls through :class:`InboundNode`).
    """

    async def start(self, node: InboundNode) -> None:
        """Connect and start handing inbound calls to ``node``."""

    async def stop_intake(self) -> None:
        """Stop taking new calls (the node is about to stop its actors)."""

    async def stop(self) -> None:
        """Release what this node holds elsewhere and disconnect (after its actors stopped)."""

    async def serve(self, spec: AgentSpec) -> None:
        """The node now serves agent type ``spec.name``: announce it (before returning)."""

    async def withdraw(self, names: Sequence[str]) -> None:
        """The node no longer serves these agent types."""

    def session_ended(self, type_name: str, session: str) -> None:
        """A session of ``type_name`` stopped here: release what the transport held for it."""

    async def place(self, address: Address, deadline: float) -> Route | None:
        """``None`` if this node serves ``address`` (now), else where to send calls to it.

        Raises ``DeadlineExceeded`` if deciding (e.g. claiming a session) outlasts ``deadline``.
        """

    def ask(self, route: Route, address: Address, raw: RawMessage, deadline: float,
            sender: Address | None, explicit: bool) -> Awaitable[RawMessage | None]:
        """Send a call and return its reply (``None``: the handler returned nothing).

        ``explicit`` is ``False`` when the caller gave no timeout (the receiver may then
        apply its own default instead of being told the deadline).
        """

    def tell(self, route: Route, address: Address, raw: RawMessage, deadline: float,
             sender: Address | None, explicit: bool) -> Awaitable[None]:
        """Send without a reply; returns once the receiver has queued the message."""

    def open_stream(self, route: Route, address: Address, raw: RawMessage, deadline: float,
                    sender: Address | None, explicit: bool,
                    decode: StreamDecoder | None) -> Awaitable[OpenStream]:
        """Open a streamed call; returns once the first message arrived (or raise)."""

    async def discover(self, namespace: str) -> list[tuple[str, str]]:
        """``(name, description)`` of agent types served elsewhere (may include this node's)."""


class ServedCall:
    """A call from another process in flight on this node, as a serving side tracks it: the
    cell handling it, its envelope (to cancel it) and its deadline's timer."""

    __slots__ = ("cell", "env", "expiry")

    def __init__(self, cell: Cell, env: Envelope, expiry: Any) -> None:
        self.cell = cell
        self.env = env
        self.expiry = expiry
