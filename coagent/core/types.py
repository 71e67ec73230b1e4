"""The original Coagent's ``coagent.core.types`` names.

::

    from coagent.core.types import Constructor, MessageHeader

    spec = AgentSpec("server", Constructor(Server))          # the same as new(Server)
    raw = RawMessage(header=MessageHeader(type="Ping"), content=b"")

Our ``RawMessage.header`` is a plain ``dict[str, str]``; :class:`MessageHeader` builds
one from the original's fields (``extensions`` become extra header entries).
"""

from __future__ import annotations

from typing import Any

from coagent.actors.actor import Actor
from coagent.actors.message import CONTENT_TYPE_JSON
from coagent.runtimes.node import Node
from coagent.supervision.spec import Factory

__all__ = ["Agent", "BaseRuntime", "Constructor", "MessageHeader", "Subscription"]

#: The original's ``Constructor`` is what ``new(Cls, ...)`` returns.
Constructor = Factory
#: The original's abstract agent; every actor here is an ``Actor``.
Agent = Actor
#: The original's runtime base; every runtime here is a ``Node``.
BaseRuntime = Node


class MessageHeader(dict[str, str]):
    """A raw message header built from the original's fields."""

    def __init__(self, type: str, content_type: str = CONTENT_TYPE_JSON,
                 extensions: dict[str, Any] | None = None) -> None:
        super().__init__({k: str(v) for k, v in (extensions or {}).items()})
        self["type"] = type
        self["content_type"] = content_type

    @property
    def type(self) -> str:
        return self["type"]

    @property
    def content_type(self) -> str:
        return self.get("content_type", CONTENT_TYPE_JSON)

    @property
    def extensions(self) -> dict[str, str]:
        return {k: v for k, v in self.items() if k not in ("type", "content_type")}


class Subscription:
    """The original's subscription handle; raw subscriptions are not offered here
    (``runtime.channel.subscribe`` raises ``ChannelNotSupported``)."""

    async def unsubscribe(self, limit: int = 0) -> None:
        """Nothing to undo."""
