"""The pieces of a hosted agent type: its provider (an open stream), mailboxes, waiting calls.

::

    provider = Provider("v1", ["echo"], caller="", node="worker-1")
    provider.push(b"event: deliver\ndata: {...}\n\n")   # MailboxFull past PROVIDER_QUEUE
    event = await provider.next_event()                 # what the stream sends next

Used by :mod:`coagent.gateway.hosted`; nothing here knows the HTTP stack.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from typing import Any, Literal

import msgspec

from coagent.actors.address import Address
from coagent.actors.envelope import ReplyChannel
from coagent.actors.message import RawMessage
from coagent.errors import AgentDisconnected, CoagentError, MailboxFull
from coagent.gateway.codec import CosAddress
from coagent.transport.http.codec import Delivery  # one wire struct for both ends

__all__ = ["Provider", "Waiter", "CosSession", "Outbox", "Delivery", "Created", "Dialect",
           "PROVIDER_QUEUE", "SESSION_QUEUE"]

Dialect = Literal["cos", "v1"]

#: Events a provider's stream may hold unsent before new calls fail with ``MailboxFull``.
PROVIDER_QUEUE = 1024
#: Messages a CoS session's mailbox holds while its subscriber is slow or away.
SESSION_QUEUE = 1024


class Created(msgspec.Struct):
    addr: CosAddress


class Waiter:
    """A call waiting for what its provider posts back: one reply, or a stream."""

    __slots__ = ("chan", "fut", "provider", "session")

    def __init__(self, provider: Provider, session: str, streaming: bool) -> None:
        self.provider = provider
        self.session = session
        self.fut: asyncio.Future[RawMessage | None] | None = None
        self.chan: ReplyChannel | None = None
        if streaming:
            self.chan = ReplyChannel()
        else:
            self.fut = asyncio.get_running_loop().create_future()

    async def offer(self, raw: RawMessage | None, end: bool) -> None:
        """An item (or a single reply) arrived; ``end``: nothing follows it."""
        if self.fut is not None:
            if not self.fut.done():  # an ask of a streaming handler takes its first item
                self.fut.set_result(raw)
            return
        assert self.chan is not None
        if raw is not None:
            await self.chan.send(raw)
        if end:
            self.chan.close()

    def fail(self, error: CoagentError) -> None:
        if self.fut is not None:
            if not self.fut.done():
                self.fut.set_exception(error)
        elif self.chan is not None:
            self.chan.close(error)


class Outbox:
    """A bounded queue of encoded events whose consumer may come and go.

    An event taken but not written (the connection dropped) goes back to the front,
    so nothing is lost while a subscriber reconnects.
    """

    __slots__ = ("_items", "_wakeup", "closed", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[bytes] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self.maxsize = maxsize
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: bytes) -> bool:
        """Queue ``item``; ``False`` when full or closed."""
        if self.closed or len(self._items) >= self.maxsize:
            return False
        self._items.append(item)
        self._wake()
        return True

    def unget(self, item: bytes) -> None:
        """Put back what could not be sent (it goes first, whatever the bound)."""
        if not self.closed:
            self._items.appendleft(item)

    def holds(self, event: bytes) -> bool:
        """Whether ``event`` waits here (alone, or in a burst put back whole)."""
        return any(event in item for item in self._items)

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def get(self) -> bytes | None:
        """The next events, joined (one write for a burst); ``None`` once closed."""
        while not self.closed:
            items = self._items
            if items:
                if len(items) == 1:
                    return items.popleft()
                batch = b"".join(items)
                items.clear()
                return batch
            self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None
        return None


class CosSession:
    """A CoS session's mailbox and who is subscribed to it."""

    __slots__ = ("address", "generation", "grace", "outbox", "subscribed", "task", "unacked")

    def __init__(self, address: Address) -> None:
        self.address = address
        self.task: asyncio.Task[Any] | None = None  # the subscriber's request
        self.outbox = Outbox(SESSION_QUEUE)
        self.generation = 0  # a new subscriber replaces the previous one
        self.subscribed = False
        self.grace: asyncio.TimerHandle | None = None
        #: The durable tell sent and not yet acknowledged by a reply (sent again to the
        #: next subscriber: the previous one may have died before handling it).
        self.unacked: bytes | None = None


class Provider:
    """One outside process's open stream, serving agent types ``names``."""

    def __init__(self, dialect: Dialect, names: list[str], caller: str, node: str,
                 durable: frozenset[str] = frozenset()) -> None:
        self.dialect = dialect
        self.names = names
        #: The types whose process stores their tells (``v1`` only): a tell waits for "stored".
        self.durable = durable
        self.caller = caller
        self.node = node
        self.id = secrets.token_hex(8)
        self.outbox = Outbox(PROVIDER_QUEUE)
        self.waiters: dict[str, Waiter] = {}
        self.sessions: dict[Address, CosSession] = {}
        self.closed = False

    async def next_event(self) -> bytes | None:
        """The next event to send on the stream (``None``: the provider was closed)."""
        return await self.outbox.get()

    def push(self, event: bytes) -> None:
        if not self.outbox.put(event):
            if self.closed:
                raise AgentDisconnected(f"the process serving {', '.join(self.names)} went away")
            raise MailboxFull(
                f"the process serving {', '.join(self.names)} has {PROVIDER_QUEUE} events unread",
            )
