"""What a model call gives back, and what an agent needs from its model client.

::

    response = await client.complete([{"role": "user", "content": "weather in Paris?"}])
    for call in response.tool_calls:             # ToolCall(id=..., name=..., arguments="{...}")
        ...
    history.append(response.to_message())        # the assistant message, tool calls included

    async with client.stream(messages) as stream:   # ModelStream: text deltas, then .response
        async for delta in stream:
            print(delta, end="")

:class:`ChatModel` is the protocol that :class:`~coagent.agents.ModelClient` and
:class:`coagent.testing.ScriptedModel` both implement.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from coagent.agents.messages import Usage

__all__ = ["ToolCall", "ModelResponse", "ModelStream", "ChatModel", "as_model_messages"]


class ToolCall(msgspec.Struct, omit_defaults=True):
    """One tool call requested by the model; ``arguments`` is the JSON text it wrote."""

    id: str
    name: str
    arguments: str = "{}"

    def to_model(self) -> dict[str, Any]:
        """The OpenAI ``tool_calls`` entry for this call."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


class ModelResponse(msgspec.Struct):
    """One model answer: text and/or tool calls, why it stopped, and what it cost."""

    content: str = ""
    tool_calls: list[ToolCall] = []
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    model: str = ""

    def to_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation history."""
        if not self.tool_calls:
            return {"role": "assistant", "content": self.content}
        return {"role": "assistant", "content": self.content or None,
                "tool_calls": [call.to_model() for call in self.tool_calls]}


class ModelStream:
    """A streamed model call: an async iterator of text deltas; ``response`` once finished.

    ::

        async with client.stream(messages) as stream:
            async for delta in stream:
                print(delta, end="")
        stream.response.tool_calls, stream.response.usage

    Leaving early (``break``, ``aclose()``, leaving the ``async with``) closes the
    underlying HTTP response.
    """

    __slots__ = ("_agen", "response")

    def __init__(self, produce: Callable[[ModelStream], AsyncGenerator[str, None]]) -> None:
        self.response: ModelResponse | None = None
        self._agen = produce(self)

    def __aiter__(self) -> ModelStream:
        return self

    def __anext__(self) -> Any:
        return self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and release its connection."""
        await self._agen.aclose()

    async def collect(self) -> ModelResponse:
        """Read the whole stream and return the assembled response."""
        async with self:
            async for _ in self:
                pass
        assert self.response is not None
        return self.response

    async def __aenter__(self) -> ModelStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._agen.aclose()


@runtime_checkable
class ChatModel(Protocol):
    """What an agent needs from its ``client``: :class:`ModelClient` and
    :class:`coagent.testing.ScriptedModel` both provide it."""

    model: str
    usage: Usage

    async def complete(
        self, messages: Sequence[Any], *, tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None, response_format: Any = None, timeout: float | None = None,
        **kwargs: Any,
    ) -> ModelResponse: ...

    def stream(
        self, messages: Sequence[Any], *, tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None, response_format: Any = None, timeout: float | None = None,
        **kwargs: Any,
    ) -> ModelStream: ...


def as_model_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """OpenAI-style dicts from dicts or messages with ``to_model()`` (e.g. ``ChatMessage``)."""
    out = []
    for m in messages:
        if isinstance(m, dict):
            out.append(m)
        elif hasattr(m, "to_model"):
            out.append(m.to_model())
        else:
            raise TypeError(f"cannot send {type(m).__name__} to a model; use a dict or ChatMessage")
    return out
