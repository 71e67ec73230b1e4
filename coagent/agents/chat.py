"""``ChatAgent`` and ``StreamChatAgent``: an LLM conversation per session, with tools.

::

    from coagent.agents import ChatAgent, StreamChatAgent, ChatMessage, ModelClient
    from coagent.core import AgentSpec, new

    client = ModelClient()   # MODEL_NAME, MODEL_API_BASE, ... from the environment

    translator = AgentSpec("translator", new(
        StreamChatAgent, system="Translate Chinese to English.", client=client,
    ))

    async with LocalRuntime() as runtime:
        await runtime.register(translator)
        async for chunk in translator.run_stream(ChatMessage(role="user", content="你好").encode()):
            print(ChatMessage.decode(chunk).content, end="")

Every session gets its own instance, so its history is plain instance state that no
other session sees. One user message is one *turn*: the agent calls the model,
runs the tool calls it asks for (concurrently, at most ``max_parallel_tools`` at a
time; errors go back to the model), and calls it again, until the model answers
without tools or ``max_turns`` model calls were made (:class:`MaxTurnsExceeded`).
A turn that fails or is cancelled leaves the history as it was before it.

Send :class:`GetUsage` to a session to read its accumulated tokens and cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coagent import Actor, Context, Message, handler
from coagent.agents.errors import MaxTurnsExceeded, OutputValidationError
from coagent.agents.messages import ChatHistory, ChatMessage, GetUsage, Usage, UsageReport
from coagent.agents.model import ChatModel, ModelClient, ModelResponse
from coagent.agents.structured import OutputInvalid, OutputSpec
from coagent.agents.tools import (
    Tool,
    ToolResult,
    ToolSource,
    collect_tools,
    run_tool_calls,
    tool_sources,
    with_source_tools,
)

__all__ = [
    "ChatAgent", "StreamChatAgent", "TurnEvent", "TextDelta", "ToolActions", "ToolResults",
    "TurnFinished",
]



# The events of one turn, as ChatAgent.run_turn yields them. Fields are read by name,
# so adding one never shifts another (as positions in a tuple did).


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Streamed text of the model's answer (``run_turn(stream=True)`` only)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolActions:
    """The model asked for tool calls (``response.tool_calls``) in model call ``turn``."""

    response: ModelResponse
    turn: int


@dataclass(frozen=True, slots=True)
class ToolResults:
    """The tools called in model call ``turn`` answered."""

    results: list[ToolResult]
    turn: int


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The answer that ends the turn: ``text`` as sent, ``value`` its validated form
    (``None`` without ``output_type``), ``usage`` of every model call of the turn."""

    response: ModelResponse
    value: Any
    text: str
    usage: Usage
    turn: int


TurnEvent = TextDelta | ToolActions | ToolResults | TurnFinished


class ChatAgent(Actor):
    """An LLM agent that answers each message with one ``ChatMessage``.

    Args:
        system: the system prompt.
        client: a :class:`ModelClient` (default: ``ModelClient()`` from the environment)
            or anything with its ``complete``/``stream`` methods, e.g.
            :class:`coagent.testing.ScriptedModel`.
        tools: functions (or :class:`Tool`) the model may call; ``@tool`` methods of a
            subclass are added automatically. A :class:`ToolSource` (such as
            :class:`coagent.interop.MCPTools`) adds its current tools before each model call.
        max_turns: model calls allowed for one message before :class:`MaxTurnsExceeded`.
        max_parallel_tools: tool calls of one model turn that run at the same time.
        tool_timeout: seconds one tool call may take (its timeout goes back to the model).
        output_type: a ``msgspec.Struct``/``Message`` type or a JSON schema ``dict``: the
            reply must be JSON of it; a reply that does not validate is sent back to the
            model with the error, up to ``output_retries`` times, then
            :class:`OutputValidationError`.
        max_history: keep at most this many messages of history (whole turns are dropped
            from the start); ``None`` keeps everything.
        model_kwargs: extra arguments for every model call (``temperature``, ...).

    Handlers: :class:`ChatMessage` (append and answer), :class:`ChatHistory` (adopt
    the given conversation and answer its last message), :class:`GetUsage`.
    """

    def __init__(
        self,
        system: str = "",
        client: ChatModel | None = None,
        tools: Sequence[Callable[..., Any] | Tool | ToolSource] = (),
        *,
        max_turns: int = 10,
        max_parallel_tools: int = 8,
        tool_timeout: float | None = None,
        output_type: Any = None,
        output_retries: int = 2,
        max_history: int | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be >= 1")
        if max_parallel_tools < 1:
            raise ValueError("max_parallel_tools must be >= 1")
        if output_retries < 0:
            raise ValueError("output_retries must be >= 0")
        if max_history is not None and max_history < 1:
            raise ValueError("max_history must be >= 1 or None")
        self.system = system
        self.client: ChatModel = client if client is not None else ModelClient()
        self.tools: dict[str, Tool] = collect_tools(self, tools)
        self.tool_sources = tool_sources(tools)
        self._own_tools = self.tools
        self.max_turns = max_turns
        self.max_parallel_tools = max_parallel_tools
        self.tool_timeout = tool_timeout
        self.output = OutputSpec(output_type) if output_type is not None else None
        self.output_retries = output_retries
        self.max_history = max_history
        self.model_kwargs = dict(model_kwargs or {})
        #: This session's conversation (OpenAI message dicts), without the system prompt.
        self.history: list[dict[str, Any]] = []
        #: Tokens and cost of every model call this session made.
        self.usage = Usage()
        self._tool_schemas = [t.schema() for t in self.tools.values()] or None

    # ------------------------------------------------------------- handlers

    @handler
    async def chat(self, msg: ChatMessage | ChatHistory, ctx: Context) -> ChatMessage:
        """Answer a message (appended to the history) or a whole conversation (adopted as
        this session's history, its last message answered)."""
        undo = self.begin_turn(msg)
        try:
            reply: ChatMessage = await self._answer(ctx)  # or the validated Message
        except BaseException:
            undo()
            raise
        self._trim()
        return reply

    def begin_turn(self, msg: ChatMessage | ChatHistory) -> Callable[[], None]:
        """Put ``msg`` into the history; return what undoes that if the turn fails."""
        if isinstance(msg, ChatHistory):
            previous = self.history
            self.history = [m.to_model() for m in msg.messages]

            def undo() -> None:
                self.history = previous
        else:
            mark = len(self.history)
            self.history.append(msg.to_model())

            def undo() -> None:
                del self.history[mark:]
        return undo

    @handler
    async def get_usage(self, msg: GetUsage, ctx: Context) -> UsageReport:
        """The model usage of this session so far."""
        return UsageReport(usage=self.usage + Usage(), model=getattr(self.client, "model", ""))

    # ----------------------------------------------------------- the turn

    def messages(self) -> list[dict[str, Any]]:
        """What the model is sent: the system prompt, then the history."""
        if self.system:
            return [{"role": "system", "content": self.system}, *self.history]
        return list(self.history)

    async def run_turn(
        self, ctx: Context | None, *, stream: bool = False
    ) -> AsyncGenerator[TurnEvent, None]:
        """Run one turn on the current history, yielding its events.

        :class:`TextDelta` for streamed text (``stream=True``), :class:`ToolActions` and
        :class:`ToolResults` around tool calls, and finally :class:`TurnFinished`.
        Subclasses build their replies from these; the history is updated as the turn goes::

            async for event in self.run_turn(ctx):
                match event:
                    case ToolActions(response=response):
                        print([call.name for call in response.tool_calls])
                    case TurnFinished(text=text):
                        print(text)
        """
        client = self.client
        output = self.output
        schemas = self._tool_schemas
        response_format = output.response_format if output is not None else None
        stream = stream and output is None  # validated output is sent whole
        usage = Usage()
        failures = 0
        turn = 0
        while True:
            if turn >= self.max_turns:
                raise MaxTurnsExceeded(
                    f"no final answer after {self.max_turns} model calls", max_turns=self.max_turns,
                )
            turn += 1
            if self.tool_sources:  # the sources' lists may have changed since the last call
                self.tools = await with_source_tools(self._own_tools, self.tool_sources, ctx)
                schemas = [t.schema() for t in self.tools.values()] or None
            timeout = ctx.remaining() if ctx is not None else None
            if stream:
                async with client.stream(
                    self.messages(), tools=schemas, timeout=timeout, **self.model_kwargs
                ) as model_stream:
                    async for delta in model_stream:
                        yield TextDelta(delta)
                response: ModelResponse = model_stream.response  # type: ignore[assignment]
            else:
                response = await client.complete(
                    self.messages(), tools=schemas, response_format=response_format,
                    timeout=timeout, **self.model_kwargs,
                )
            usage.add(response.usage)
            self.usage.add(response.usage)
            self.history.append(response.to_message())
            if response.tool_calls:
                yield ToolActions(response, turn)
                results = await self.call_tools(response, ctx)
                self.history.extend(r.to_message() for r in results)
                yield ToolResults(results, turn)
                continue
            if output is None:
                yield TurnFinished(response, None, response.content, usage, turn)
                return
            try:
                value, text = output.validate(response.content)
            except OutputInvalid as exc:
                if failures >= self.output_retries:
                    raise OutputValidationError(
                        f"the model's reply did not validate after {failures + 1} attempts: {exc}",
                        attempts=failures + 1,
                    ) from None
                failures += 1
                self.history.append({"role": "user", "content": output.feedback(str(exc))})
                continue
            yield TurnFinished(response, value, text, usage, turn)
            return

    async def call_tools(self, response: ModelResponse, ctx: Context | None) -> list[ToolResult]:
        """Run the tool calls of ``response`` (override to add approval, logging, ...)."""
        return await run_tool_calls(
            response.tool_calls, self.tools, limit=self.max_parallel_tools,
            timeout=self.tool_timeout, ctx=ctx,
        )

    async def _answer(self, ctx: Context) -> Any:
        final: TurnFinished | None = None
        async with contextlib.aclosing(self.run_turn(ctx)) as events:
            async for event in events:
                if isinstance(event, TurnFinished):
                    final = event
        assert final is not None  # run_turn ends with TurnFinished or raises
        return self.final_reply(final.response, final.value, final.text, final.usage)

    def final_reply(self, response: ModelResponse, value: Any, text: str, usage: Usage) -> Any:
        """The reply for a finished turn: a ``ChatMessage``, or the validated ``Message``."""
        if value is not None and isinstance(value, Message):
            return value
        return ChatMessage(role="assistant", content=text, reasoning_content=response.reasoning,
                           usage=usage)

    def _trim(self) -> None:
        limit = self.max_history
        history = self.history
        if limit is None or len(history) <= limit:
            return
        start = len(history) - limit
        for i in range(start, len(history)):
            if history[i].get("role") == "user":
                del history[:i]
                return
        for i in range(len(history) - 1, -1, -1):  # one turn longer than the limit: keep it
            if history[i].get("role") == "user":
                del history[:i]
                return


class StreamChatAgent(ChatAgent):
    """A :class:`ChatAgent` that streams its answer as ``ChatMessage`` deltas.

    The last chunk has empty ``content`` and the turn's ``usage``. Call it with
    ``spec.run_stream(...)``/``runtime.stream(...)``; closing the stream early cancels
    the model request.
    """

    @handler
    async def chat(self, msg: ChatMessage | ChatHistory, ctx: Context) -> AsyncIterator[ChatMessage]:
        """Stream the answer to a message (appended) or a conversation (adopted)."""
        undo = self.begin_turn(msg)
        async with contextlib.aclosing(self._stream_answer(ctx, undo)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _stream_answer(
        self, ctx: Context, undo: Callable[[], None]
    ) -> AsyncGenerator[Any, None]:
        committed = False
        try:
            async with contextlib.aclosing(self.run_turn(ctx, stream=True)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        yield ChatMessage(role="assistant", content=event.text)
                    elif isinstance(event, TurnFinished):
                        committed = True
                        self._trim()
                        if self.output is not None:
                            yield self.final_reply(event.response, event.value, event.text,
                                                   event.usage)
                        else:
                            yield ChatMessage(role="assistant", content="",
                                              reasoning_content=event.response.reasoning,
                                              usage=event.usage)
        finally:
            if not committed:
                undo()
