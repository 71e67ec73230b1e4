"""``Context``: what a handler knows about the call it is serving.

::

    @handler
    async def plan(self, msg: Task, ctx: Context) -> Plan:
        ctx.sender           # the caller's Address, or None for an outside caller
        ctx.remaining()      # seconds left before the caller's deadline (None: no deadline)
        draft = await ctx.ask(Address("writer", ctx.session), msg)   # inherits the deadline
        ...

Calls made through the context carry the remaining deadline, so a caller
that gives up cancels the whole chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from coagent.actors.address import Address
from coagent.actors.message import RawMessage

if TYPE_CHECKING:
    from coagent.actors.cell import Cell

__all__ = ["Context", "ActorSystem"]


class ActorSystem(Protocol):
    """What the actor layer needs from a runtime (implemented by the runtimes)."""

    async def ask(
        self, address: Address, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> Any: ...

    async def tell(
        self, address: Address, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> None: ...

    def stream(
        self, address: Address, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> AsyncIterator[Any]: ...

    async def discover(self, namespace: str = "") -> list[tuple[str, str]]: ...

    def register_cell(self, cell: Cell) -> None: ...

    def unregister_cell(self, cell: Cell) -> None: ...

    @property
    def channel(self) -> Any:
        """The original Coagent's ``publish`` / ``publish_multi`` layer (``actor.channel``)."""
        ...


class Context:
    """The caller, deadline and call helpers of the message being handled."""

    __slots__ = ("_cell", "deadline", "sender", "streaming")

    def __init__(self, cell: Cell, sender: Address | None, deadline: float | None,
                 streaming: bool = False) -> None:
        self._cell = cell
        self.sender = sender
        self.deadline = deadline
        #: Whether the caller consumes a stream (``stream``/``run_stream``) rather than one reply.
        #: A coroutine handler may return an async iterator when it is ``True``.
        self.streaming = streaming

    @property
    def expects_reply(self) -> bool:
        """Whether a caller waits for what the handler returns (``False`` for a tell).

        A relay to another process (the HTTP gateway's) asks for an answer only then.
        """
        current = self._cell._current
        return current is None or current.reply is not None

    @property
    def from_wire(self) -> bool:
        """Whether the message arrived in its wire form (``RawMessage``: another process or a
        raw caller), so the reply goes back as bytes; ``False`` for an in-process typed call."""
        current = self._cell._current
        return current is not None and current.msg.__class__ is RawMessage

    @property
    def address(self) -> Address:
        """This actor's own address."""
        return self._cell.address

    @property
    def session(self) -> str:
        """This actor's session id."""
        return self._cell.address.session

    def remaining(self) -> float | None:
        """Seconds until the caller's deadline (never negative), or ``None``."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def _timeout(self, timeout: float | None) -> float | None:
        left = self.remaining()
        if left is None:
            return timeout
        return left if timeout is None else min(timeout, left)

    async def ask(self, address: Address, msg: Any, *, timeout: float | None = None) -> Any:
        """Ask another actor; the timeout is capped by this call's own deadline."""
        return await self._cell.system.ask(
            address, msg, timeout=self._timeout(timeout), sender=self._cell.address
        )

    async def tell(self, address: Address, msg: Any, *, timeout: float | None = None) -> None:
        """Send without waiting for a reply (waits only for mailbox room)."""
        await self._cell.system.tell(
            address, msg, timeout=self._timeout(timeout), sender=self._cell.address
        )

    def stream(self, address: Address, msg: Any, *, timeout: float | None = None) -> AsyncIterator[Any]:
        """Stream replies from another actor, within this call's deadline."""
        return self._cell.system.stream(
            address, msg, timeout=self._timeout(timeout), sender=self._cell.address
        )

    async def discover(self, namespace: str = "") -> list[tuple[str, str]]:
        """``(name, description)`` of every agent type under ``namespace``, on any node.

        ``discover("team")`` finds ``team.billing`` and ``team.account`` (not ``team`` itself);
        ``discover()`` finds every type.
        """
        return await self._cell.system.discover(namespace)

    async def spawn(self, name: str, factory: Any, *, mailbox_size: int | None = None) -> Address:
        """Start a child actor at ``<my name>.<name>`` in this session and return its address.

        The child lives until this actor stops (it is stopped first) and is not
        restarted when it crashes: the caller of the crashing message gets the error.
        """
        return await self._cell.spawn_child(name, factory, mailbox_size=mailbox_size)

    def stop(self) -> None:
        """Stop this actor normally once the current handler returns."""
        self._cell.request_stop(normal_exit=True)
