"""The ``StateStore`` interface: durable session state, inboxes and dead letters.

::

    store = SQLiteStore("state.db")          # or JetStreamStore(js) on a NATS cluster
    await store.open()
    await store.enqueue(InboxEntry("counter", "s1", "m-1", header={"type": "Add"}, content=b"{}"))
    await store.save("counter", "s1", b'{"n": 1}', applied=["m-1"])
    await store.ack("counter", "s1", "m-1")
    print(await store.load("counter", "s1"))

One write carries a session's state *and* the ids of the messages applied to it
(``save``); a message is acknowledged (removed from the inbox, ``ack``) only after
that write, so a message redelivered after a crash between the two is recognised by
its id and not applied again. A store that can do both in one transaction says so
(``atomic_ack = True``, SQLite): ``save(..., ack=ids)`` then acknowledges the messages
with the state, and no crash can fall between the two. Every store passes the same
contract tests (``tests/durable/test_store_contract.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

__all__ = [
    "StateStore",
    "StoredSession",
    "InboxEntry",
    "DeadLetter",
    "SessionInfo",
    "MSG_ID_HEADER",
    "APPLIED_WINDOW",
]

#: The RawMessage header that carries a durable message's id (see docs/wire.md).
MSG_ID_HEADER = "msg_id"

#: How many applied message ids a session keeps with its state (where acknowledgements are
#: apart from the write; an id whose acknowledgement is not confirmed is kept beyond it).
#: A message is acknowledged right after the write that applies it, so a copy redelivered
#: from the inbox to a new instance is one whose acknowledgement was lost in a crash; a
#: sweep's copy queued behind a live session's mailbox is recognised by the longer window
#: the session keeps in memory (``coagent.supervision.durable.MEMORY_WINDOW``). Retried
#: sends are refused earlier, by the inbox (``enqueue``). Kept short because it is written
#: with every message: 64 ids cost about 2.4 KB per write.
APPLIED_WINDOW = 64


class StoredSession(msgspec.Struct):
    """A session's stored record: its state (bytes, JSON) and what has been applied to it."""

    type: str
    session: str
    state: bytes
    applied: list[str] = []
    applied_count: int = 0
    updated: float = 0.0
    #: The reply to the last ask that carried a message id, so that a caller retrying it
    #: after the owner died between the write and the reply still gets it.
    reply_id: str = ""
    reply: bytes = b""


class SessionInfo(msgspec.Struct):
    """One line of ``coagent sessions``."""

    type: str
    session: str
    size: int
    updated: float
    applied_count: int
    pending: int = 0


class InboxEntry(msgspec.Struct):
    """An accepted message not yet applied (a durable tell, or an ask on NATS)."""

    type: str
    session: str
    msg_id: str
    header: dict[str, str] = {}
    content: bytes = b""
    enqueued: float = msgspec.field(default_factory=time.time)
    deliveries: int = 0


class DeadLetter(msgspec.Struct):
    """A message that failed ``max_deliveries`` times, with the last error."""

    type: str
    session: str
    msg_id: str
    header: dict[str, str]
    content: bytes
    error: str
    deliveries: int
    failed_at: float


@runtime_checkable
class StateStore(Protocol):
    """Where durable sessions live. Every method is safe to call concurrently."""

    #: ``True``: :meth:`save` acknowledges its ``ack`` ids in the same transaction as the
    #: state; ``False``: it ignores them and the caller calls :meth:`ack` after it.
    atomic_ack: bool

    async def open(self) -> None:
        """Create what the store needs (tables, buckets); idempotent."""

    async def close(self) -> None:
        """Release connections; the store can be opened again."""

    async def load(self, type_name: str, session: str) -> StoredSession | None:
        """The stored record of a session, ``None`` if it has none."""

    async def save(self, type_name: str, session: str, state: bytes, applied: list[str],
                   applied_count: int | None = None, reply_id: str = "",
                   reply: bytes = b"", ack: Sequence[str] = ()) -> None:
        """Write state, applied ids and the last ask's reply in one write (and, where
        :attr:`atomic_ack`, acknowledge the ``ack`` ids in it)."""

    async def delete(self, type_name: str, session: str) -> bool:
        """Remove a session's record and its pending messages; ``True`` if it existed."""

    async def sessions(self, type_name: str | None = None) -> list[SessionInfo]:
        """Every stored session (of ``type_name`` when given)."""

    async def enqueue(self, entry: InboxEntry) -> bool:
        """Store an accepted message; ``False`` if its id was seen already (a retry)."""

    async def ack(self, type_name: str, session: str, msg_id: str) -> None:
        """The message has been applied and its state written: drop it from the inbox."""

    async def pending(self, type_name: str | None = None, session: str | None = None,
                      older_than: float | None = None) -> list[InboxEntry]:
        """Accepted messages not yet acknowledged, oldest first.

        ``older_than``: only those enqueued or last delivered at least that many seconds ago.
        """

    async def redelivered(self, type_name: str, session: str, msg_id: str) -> int:
        """Count one more delivery of a pending message; the new count (0: not pending)."""

    async def touch(self, type_name: str, session: str, msg_id: str) -> None:
        """A handler is still working on a pending message: hold off its redelivery."""

    async def dead_letter(self, entry: InboxEntry, error: str) -> None:
        """Move a pending message to the dead letters with ``error``."""

    async def dead_letters(self, type_name: str | None = None) -> list[DeadLetter]:
        """The dead letters, oldest first."""

    async def mark_durable(self, type_name: str) -> None:
        """Record that agent type ``type_name`` is durable (senders on other nodes look it up)."""

    async def is_durable(self, type_name: str) -> bool:
        """Whether some node registered ``type_name`` as durable."""
