"""What a durable LLM agent's session stores: its conversation and where its turn stands.

::

    assistant = AgentSpec("assistant", new(ChatAgent, system="...", client=client), durable=True)

``ChatAgent``, ``StreamChatAgent`` and ``ReActAgent`` snapshot a :class:`ChatState`
after every handled message and restore it on activation, with no user code: the
history (OpenAI message dicts), the usage so far, a tool call waiting for the user
or for an approval, and the JSON-encodable entries of the tools' ``RunContext``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from coagent.agents.confirm import PendingCall
from coagent.agents.messages import Usage

__all__ = ["ChatState", "json_entries"]


class ChatState(msgspec.Struct, omit_defaults=True):
    """The stored state of one chat session."""

    history: list[dict[str, Any]] = []
    usage: Usage = msgspec.field(default_factory=Usage)
    pending: PendingCall | None = None
    context: dict[str, Any] = {}


_encoder = msgspec.json.Encoder()


def json_entries(values: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` that JSON can hold (tools may keep live objects there too)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        try:
            _encoder.encode(value)
        except (TypeError, msgspec.EncodeError):
            continue
        out[key] = value
    return out
