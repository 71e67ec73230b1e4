"""Scripts for test models: what the model answers, request after request.

The same steps drive :class:`~coagent.testing.ScriptedModel` (in process) and
:class:`~coagent.testing.FakeOpenAIServer` (over real HTTP)::

    steps = [
        "Hello!",                                          # a plain text answer
        Reply(tool_calls=[tool_call("add", a=1, b=2)]),    # the model calls a tool
        Reply("Bonjour", chunks=["Bon", "jour"], chunk_delay=0.1),   # streamed slowly
        ErrorReply(429, "Rate limit reached", retry_after=0),        # a provider error
        lambda request: f"you said {request.last_message['content']}",  # a responder
    ]

A responder is any callable taking the :class:`ModelRequest` and returning a step
(or an awaitable of one). An exception instance as a step is raised by
``ScriptedModel`` as is, and answered by ``FakeOpenAIServer`` with the HTTP status
it corresponds to.
"""

from __future__ import annotations

import inspect
import itertools
import re
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import msgspec

from coagent.agents.messages import Usage
from coagent.agents.model import ToolCall

__all__ = [
    "Reply",
    "ErrorReply",
    "ModelRequest",
    "Step",
    "Script",
    "ScriptExhausted",
    "tool_call",
]

_ids = itertools.count(1)


def tool_call(name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None,
              **kwargs: Any) -> ToolCall:
    """A scripted tool call: ``tool_call("add", a=1, b=2)`` or ``tool_call("f", {"id": 3})``."""
    if isinstance(arguments, str):
        text = arguments
    else:
        text = msgspec.json.encode({**(arguments or {}), **kwargs}).decode()
    return ToolCall(id=id or f"call_{next(_ids)}", name=name, arguments=text)


@dataclass
class Reply:
    """A scripted model answer.

    Args:
        content: the text.
        tool_calls: tool calls (see :func:`tool_call`).
        chunks: how the text is streamed (default: word by word).
        reasoning: reasoning text, for models that return it.
        usage: the reported usage (default: estimated from the sizes of request and answer).
        delay: seconds before the answer (or its first chunk).
        chunk_delay: seconds between streamed chunks.
        finish_reason: default ``"tool_calls"`` with tool calls, else ``"stop"``.
    """

    content: str = ""
    tool_calls: Sequence[ToolCall] = ()
    chunks: Sequence[str] | None = None
    reasoning: str = ""
    usage: Usage | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    finish_reason: str | None = None

    def pieces(self) -> list[str]:
        """The streamed chunks of ``content``."""
        if self.chunks is not None:
            return [c for c in self.chunks if c]
        return re.findall(r"\s*\S+\s*|\s+", self.content) if self.content else []

    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")

    def usage_for(self, request: ModelRequest) -> Usage:
        if self.usage is not None:
            return msgspec.structs.replace(self.usage, requests=self.usage.requests or 1)
        prompt = sum(_tokens(m.get("content")) + 3 for m in request.messages)
        completion = _tokens(self.content) + sum(
            _tokens(c.name) + _tokens(c.arguments) for c in self.tool_calls
        ) + 1
        return Usage(requests=1, prompt_tokens=prompt, completion_tokens=completion,
                     total_tokens=prompt + completion)


@dataclass
class ErrorReply:
    """A scripted provider failure with an HTTP status, e.g. ``ErrorReply(429, "slow down")``."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    type: str | None = None
    code: str | None = None
    retry_after: float | None = None
    delay: float = 0.0

    def error_type(self) -> str:
        if self.type:
            return self.type
        if self.status == 429:
            return "rate_limit_error"
        if self.status in (401, 403):
            return "authentication_error"
        if 400 <= self.status < 500:
            return "invalid_request_error"
        return "server_error"


Step = Union[str, Reply, ErrorReply, BaseException, Callable[["ModelRequest"], Any]]  # noqa: UP007 (a forward reference)


@dataclass
class ModelRequest:
    """One request a test model received."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    model: str = ""
    stream: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: 1-based position among the requests of the model or server.
    index: int = 0

    @property
    def last_message(self) -> dict[str, Any]:
        """The last message of the conversation (usually the user's or a tool result)."""
        return self.messages[-1] if self.messages else {}

    @property
    def system(self) -> str | None:
        """The system prompt, if the conversation starts with one."""
        if self.messages and self.messages[0].get("role") == "system":
            return self.messages[0].get("content")
        return None

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered to the model."""
        return [t.get("function", {}).get("name", "") for t in self.tools or ()]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The ``tool`` messages that end the conversation (answers to the last tool calls)."""
        out = []
        for m in reversed(self.messages):
            if m.get("role") != "tool":
                break
            out.append(m)
        return out[::-1]

    @property
    def response_format(self) -> Any:
        return self.params.get("response_format")


class ScriptExhausted(AssertionError):
    """A test model got a request its script has no step for."""


class Script:
    """The steps of a test model, the requests it got, and the check that all steps were used.

    Thread-safe: ``FakeOpenAIServer`` may serve from a background thread while the
    test adds steps.
    """

    def __init__(self, steps: Iterable[Step] = (), *, default: Step | None = None,
                 owner: str = "model") -> None:
        self._steps: deque[Step] = deque(steps)
        self.default = default
        self.owner = owner
        self.requests: list[ModelRequest] = []
        self._lock = threading.Lock()
        self._count = 0

    def add(self, *steps: Step) -> None:
        """Append steps to the script."""
        with self._lock:
            self._steps.extend(steps)

    @property
    def remaining(self) -> int:
        """Steps not used yet."""
        return len(self._steps)

    def take(self, request: ModelRequest | None, record: bool = True) -> tuple[int, Step]:
        """Record ``request`` and return ``(its index, the step that answers it)``."""
        with self._lock:
            self._count += 1
            index = self._count
            if request is not None:
                request.index = index
                if record:
                    self.requests.append(request)
            if self._steps:
                return index, self._steps.popleft()
            if self.default is not None:
                return index, self.default
        raise ScriptExhausted(
            f"{self.owner}: no scripted step left for request #{index}"
            + (f" (last message: {request.last_message!r:.200})" if request is not None else "")
        )

    def assert_all_used(self) -> None:
        """Fail if scripted steps were never requested."""
        with self._lock:
            left = list(self._steps)
        if left:
            raise AssertionError(f"{self.owner}: {len(left)} scripted step(s) never used: {left!r:.500}")


async def resolve(step: Step, request: ModelRequest) -> Reply | ErrorReply | BaseException:
    """Turn a step into a ``Reply``, ``ErrorReply`` or exception (calling responders)."""
    for _ in range(10):
        if isinstance(step, str):
            return Reply(step)
        if isinstance(step, (Reply, ErrorReply, BaseException)):
            return step
        if callable(step):
            result = step(request)
            if inspect.isawaitable(result):
                result = await result
            step = result
            continue
        raise TypeError(f"not a script step: {step!r}")
    raise TypeError("a responder kept returning responders")


def _tokens(text: Any) -> int:
    if not text:
        return 0
    if not isinstance(text, str):
        text = str(text)
    return max(1, (len(text) + 3) // 4)


# A type alias for callers' annotations.
Responder = Callable[[ModelRequest], Step | Awaitable[Step]]
