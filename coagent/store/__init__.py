"""Durable session state: the ``StateStore`` interface and its stores.

::

    from coagent.store import SQLiteStore
    async with LocalRuntime(store=SQLiteStore("state.db")) as runtime:   # or store="state.db"
        ...

``JetStreamStore`` (``coagent.store.jetstream``) keeps the same records in NATS
JetStream for ``NATSRuntime`` clusters.
"""

from typing import TYPE_CHECKING, Any

from coagent.store.base import (
    MSG_ID_HEADER,
    DeadLetter,
    InboxEntry,
    SessionInfo,
    StateStore,
    StoredSession,
)

if TYPE_CHECKING:
    from coagent.store.sqlite import SQLiteStore

__all__ = ["StateStore", "StoredSession", "InboxEntry", "DeadLetter", "SessionInfo",
           "SQLiteStore", "MSG_ID_HEADER", "open_store"]


def open_store(spec: str | StateStore) -> StateStore:
    """A store from a path (``"state.db"``: SQLite) or a store object as it is."""
    if isinstance(spec, str):
        from coagent.store.sqlite import SQLiteStore

        return SQLiteStore(spec)
    return spec


def __getattr__(name: str) -> Any:
    # sqlite3 is imported only by code that uses the store (``import coagent`` stays fast).
    if name == "SQLiteStore":
        from coagent.store.sqlite import SQLiteStore

        return SQLiteStore
    raise AttributeError(f"module 'coagent.store' has no attribute {name!r}")
