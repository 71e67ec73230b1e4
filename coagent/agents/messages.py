"""The messages LLM agents speak.

::

    from coagent.agents import ChatMessage, ChatHistory

    raw = ChatMessage(role="user", content="你好，世界").encode()   # what the seed sends
    reply = ChatMessage.decode(raw_reply)                             # what comes back
    print(reply.content)

A streamed reply is a sequence of ``ChatMessage`` chunks whose ``content`` is
the delta; the last chunk of a stream carries the turn's ``usage``.

A ``ReActAgent`` streams its steps as :class:`ThoughtStep`, :class:`ToolCallStep`,
:class:`ToolResultStep` and a closing :class:`FinalAnswer`.
"""

from __future__ import annotations

import builtins
from typing import Any, TypeVar

import msgspec

from coagent import Message

__all__ = [
    "Usage",
    "ChatMessage",
    "ChatHistory",
    "GetUsage",
    "UsageReport",
    "ThoughtStep",
    "ToolCallStep",
    "ToolResultStep",
    "FinalAnswer",
]

T = TypeVar("T")


class Usage(msgspec.Struct, omit_defaults=True):
    """Tokens and cost of one or more model calls; ``+`` and :meth:`add` aggregate.

    ::

        total = Usage()
        total.add(response.usage)
        print(total.requests, total.total_tokens, f"${total.cost:.6f}")

    ``cost`` is in US dollars from litellm's price map (0.0 when the model's price is unknown).
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0

    def add(self, other: Usage) -> None:
        """Add ``other`` into this one, in place."""
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.cost += other.cost

    def __add__(self, other: Usage) -> Usage:
        out = msgspec.structs.replace(self)
        out.add(other)
        return out


class ChatMessage(Message, omit_defaults=True):
    """One message of a conversation (OpenAI roles: ``system``, ``user``, ``assistant``, ``tool``).

    ::

        ChatMessage(role="user", content="hi")
        ChatMessage.decode(chunk).content        # a streamed delta

    ``usage`` is set on an agent's reply (for a stream: its last chunk) with the
    tokens and cost of the whole turn.
    """

    role: str
    content: str = ""
    name: str | None = None
    #: The seed's free-form message kind (e.g. ``"confirm"``); not sent to the model.
    type: str = ""
    #: Which agent produced the message, when it matters (patterns set it).
    sender: str = ""
    #: Meant for the user, not the model: e.g. a tool's request for confirmation
    #: (``type="confirm"``) or for a filled-in form (``type="submit"``).
    to_user: bool = False
    #: Reasoning text some models return beside the answer.
    reasoning_content: str = ""
    usage: Usage | None = None

    def to_model(self) -> dict[str, Any]:
        """The OpenAI chat-completions dict for this message."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def merge_stream(cls, items: list[ChatMessage]) -> ChatMessage:
        """One message from streamed deltas: contents joined, the last ``usage`` kept.

        This is what an ``ask`` (rather than a stream) of a ``StreamChatAgent`` returns.
        """
        if not items:
            return cls(role="assistant")
        first = items[0]
        usage = None
        for item in reversed(items):
            if item.usage is not None:
                usage = item.usage
                break
        return cls(
            role=first.role,
            content="".join(i.content for i in items),
            name=first.name,
            type=first.type,
            sender=first.sender,
            to_user=first.to_user,
            reasoning_content="".join(i.reasoning_content for i in items),
            usage=usage,
        )

    def parse(self, into: builtins.type[T]) -> T:
        """Decode ``content`` as JSON into ``into`` (for replies of agents with ``output_type``)::

            point = reply.parse(Point)
        """
        return msgspec.json.decode(self.content, type=into)


class ChatHistory(Message):
    """A whole conversation; an agent that receives it adopts it as its session history
    and answers its last message::

        await agent.run(ChatHistory(messages=[
            ChatMessage(role="user", content="My name is Ada."),
            ChatMessage(role="assistant", content="Hello Ada."),
            ChatMessage(role="user", content="What is my name?"),
        ]).encode())
    """

    messages: list[ChatMessage] = []


class GetUsage(Message):
    """Ask an agent for its session's accumulated model usage; the reply is a :class:`UsageReport`."""


class UsageReport(Message):
    """The tokens and cost one agent session has used so far (all its model calls)."""

    usage: Usage
    model: str = ""


class ThoughtStep(Message):
    """ReAct: the model's reasoning before it acts."""

    content: str
    turn: int = 0


class ToolCallStep(Message):
    """ReAct: the model calls a tool (``arguments`` is the JSON text the model wrote)."""

    id: str
    name: str
    arguments: str
    turn: int = 0


class ToolResultStep(Message):
    """ReAct: what a tool returned (or, with ``is_error``, the error it raised)."""

    id: str
    name: str
    content: str
    is_error: bool = False
    turn: int = 0


class FinalAnswer(Message):
    """ReAct: the answer that ends the loop, with the usage of the whole run."""

    content: str
    usage: Usage | None = None
