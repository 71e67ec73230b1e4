"""``ChatAgent`` and ``StreamChatAgent``: an LLM conversation per session, with tools.

Why one module of about 500 lines: the turn loop, its suspension for ``@confirm``,
``@submit`` and ``@approval`` and the durable snapshot all read and write the same
session state (history, pending call, resume point); apart, each would need the others'
invariants. The pieces with no such tie live beside it (approval, confirm, tools).

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
A tool marked ``@approval`` suspends the turn until an ``Approval`` arrives
(:mod:`coagent.agents.approval`); with ``AgentSpec(..., durable=True)`` the history and
the pending call are stored after every message (:mod:`coagent.agents.durable_state`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from coagent import Actor, Context, Message, handler
from coagent.agents.approval import (
    APPROVAL,
    Approval,
    ApprovalNeeded,
    ApprovalNotPending,
    hold_for_approval,
)
from coagent.agents.confirm import PendingCall, RunContext, is_affirmative, resumed_call
from coagent.agents.durable_state import ChatState, json_entries
from coagent.agents.errors import MaxTurnsExceeded, OutputValidationError
from coagent.agents.messages import ChatHistory, ChatMessage, GetUsage, Usage, UsageReport
from coagent.agents.model import ChatModel, ModelClient, ModelResponse, ToolCall
from coagent.agents.settings import UNSET, setting
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
        name: the original Coagent's agent name (default: the class name in snake_case).

    Every setting can also be a class attribute of a subclass (``system = "..."``);
    an argument wins over it, and it wins over the default. ``client`` left unset
    (``new(Cls)``) is ``ModelClient()`` from the ``MODEL_*`` environment.

    Handlers: :class:`ChatMessage` (append and answer), :class:`ChatHistory` (adopt
    the given conversation and answer its last message), :class:`GetUsage`.
    """

    #: Its handled messages are GenAI ``invoke_agent`` spans while tracing is on.
    __otel_operation__ = "invoke_agent"

    # Settings, set per instance by ``setting()`` (annotations only: a class attribute of
    # that name is a subclass's setting, see coagent.agents.settings).
    system: str
    max_turns: int
    max_parallel_tools: int
    tool_timeout: float | None
    output_retries: int
    max_history: int | None

    def __init__(
        self,
        system: str = UNSET,
        client: ChatModel | None = UNSET,
        tools: Sequence[Callable[..., Any] | Tool | ToolSource] = UNSET,
        *,
        max_turns: int = UNSET,
        max_parallel_tools: int = UNSET,
        tool_timeout: float | None = UNSET,
        output_type: Any = UNSET,
        output_retries: int = UNSET,
        max_history: int | None = UNSET,
        model_kwargs: Mapping[str, Any] | None = UNSET,
        name: str = UNSET,
    ) -> None:
        # Each setting: the argument, else a subclass's class attribute, else the default.
        system = setting(self, "system", system, "", base=ChatAgent)
        client = setting(self, "client", client, None, base=ChatAgent)
        tools = setting(self, "tools", tools, (), base=ChatAgent)
        max_turns = setting(self, "max_turns", max_turns, 10, base=ChatAgent)
        max_parallel_tools = setting(self, "max_parallel_tools", max_parallel_tools, 8,
                                     base=ChatAgent)
        self.tool_timeout = setting(self, "tool_timeout", tool_timeout, None, base=ChatAgent)
        output_type = setting(self, "output_type", output_type, None, base=ChatAgent)
        output_retries = setting(self, "output_retries", output_retries, 2, base=ChatAgent)
        max_history = setting(self, "max_history", max_history, None, base=ChatAgent)
        model_kwargs = setting(self, "model_kwargs", model_kwargs, None, base=ChatAgent)
        #: The original's agent name (defaults to the class name in snake_case).
        self.name = name if name is not UNSET else _snake(type(self).__name__)
        if max_turns < 1:
            raise ValueError("max_turns must be >= 1")
        if max_parallel_tools < 1:
            raise ValueError("max_parallel_tools must be >= 1")
        if output_retries < 0:
            raise ValueError("output_retries must be >= 0")
        if max_history is not None and max_history < 1:
            raise ValueError("max_history must be >= 1 or None")
        self.client: ChatModel = client if client is not None else ModelClient()
        self.tools: dict[str, Tool] = collect_tools(self, tools)
        self.tool_sources = tool_sources(tools)
        self._own_tools = self.tools
        self.output = OutputSpec(output_type) if output_type is not None else None
        self.model_kwargs = dict(model_kwargs or {})
        #: This session's conversation (OpenAI message dicts), without the system prompt.
        self.history: list[dict[str, Any]] = []
        #: Tokens and cost of every model call this session made.
        self.usage = Usage()
        #: What this session's tools see as ``ctx: RunContext`` (see coagent.agents.confirm).
        self.run_context = RunContext()
        #: A ``@confirm``/``@submit`` tool call waiting for the user's next message.
        self.pending: PendingCall | None = None
        self._resume: tuple[ToolCall, str] | None = None
        self._tool_schemas = [t.schema() for t in self.tools.values()] or None

    # ------------------------------------------------------- durable state

    def snapshot(self) -> ChatState:
        """What a durable session stores after each message (see coagent.agents.durable_state)."""
        return ChatState(history=self.history, usage=self.usage, pending=self.pending,
                         context=json_entries(self.run_context))

    def restore(self, data: Any) -> None:
        """Take back a stored :meth:`snapshot` when a durable session is activated."""
        state = msgspec.convert(data, ChatState)
        self.history, self.usage, self.pending = state.history, state.usage, state.pending
        self.run_context.update(state.context)

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
        pending = self.pending
        self._answer_pending(msg)
        if isinstance(msg, ChatHistory):
            previous = self.history
            self.history = [m.to_model() for m in msg.messages]

            def undo() -> None:
                self.history = previous
                self.pending, self._resume = pending, None
        else:
            mark = len(self.history)
            self.history.append(msg.to_model())

            def undo() -> None:
                del self.history[mark:]
                self.pending, self._resume = pending, None
        return undo

    def is_confirmation(self, text: str) -> bool:
        """Whether the user's reply ``text`` confirms a ``@confirm`` tool call (a plain yes).

        Override it for another rule, e.g. asking a model.
        """
        return is_affirmative(text)

    def _answer_pending(self, msg: ChatMessage | ChatHistory) -> None:
        """Decide what the user's message does to a ``@confirm``/``@submit`` call."""
        pending, self.pending, self._resume = self.pending, None, None
        ctx = self.run_context
        ctx.user_confirmed = ctx.user_submitted = False
        messages = msg.messages if isinstance(msg, ChatHistory) else [msg]
        last = messages[-1] if messages else None
        if last is None or last.role != "user":
            return
        if pending is not None:
            if pending.kind == APPROVAL:
                return  # only an Approval decides it (the approver may not be this user)
            if pending.kind == "submit" or self.is_confirmation(last.content):
                call = resumed_call(pending, last)
                if call is not None:
                    self._resume = (call, pending.kind)
            return
        # A client that resends the whole conversation to a fresh session (the original's way):
        # the flags hold for this turn, so the tool runs when the model calls it again.
        ctx.user_submitted = last.type == "submit"
        ctx.user_confirmed = (len(messages) > 1 and messages[-2].type == "confirm"
                              and self.is_confirmation(last.content))

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
        if self._resume is not None:
            results = await self._run_resumed(ctx)
            yield ToolResults(results, 0)
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
                asking = next((r for r in results if r.user_message is not None), None)
                if asking is not None:
                    # A tool asks the user first: the turn ends with its question.
                    question = asking.user_message
                    assert question is not None
                    self.history.append({"role": "assistant", "content": question.content})
                    self.pending = PendingCall(call=asking.call, kind=question.type or "confirm")
                    yield TurnFinished(response, question, question.content, usage, turn)
                    return
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
        """Run the tool calls of ``response`` (those needing an ``@approval`` wait for it)."""
        calls, held = hold_for_approval(response.tool_calls, self.tools)
        results = await run_tool_calls(
            calls, self.tools, limit=self.max_parallel_tools,
            timeout=self.tool_timeout, ctx=ctx, run_context=self.run_context,
        ) if calls else []
        if held:  # in the model's order: the question ends the turn
            order = {call.id: i for i, call in enumerate(response.tool_calls)}
            results = sorted([*results, *held], key=lambda r: order.get(r.call.id, 0))
        return results

    @handler
    async def approve(self, msg: Approval, ctx: Context) -> ChatMessage:
        """Decide a call held by an ``@approval`` tool and finish the suspended turn."""
        pending = self.pending
        if pending is None or pending.kind != APPROVAL or pending.call.id != msg.call_id:
            raise ApprovalNotPending(f"no tool call {msg.call_id!r} is waiting for an approval",
                                     call_id=msg.call_id)
        history = len(self.history)
        self.pending = None
        if msg.approved:
            call = pending.call
            self._resume = (ToolCall(id=call.id + "-approved", name=call.name,
                                     arguments=call.arguments), APPROVAL)
        else:
            note = f": {msg.note}" if msg.note else ""
            self.history.append({"role": "user", "content":
                                 f"I rejected the call to {pending.call.name}{note}"})
        try:
            reply: ChatMessage = await self._answer(ctx)
        except BaseException:
            del self.history[history:]
            self.pending, self._resume = pending, None
            raise
        self._trim()
        return reply

    async def _run_resumed(self, ctx: Context | None) -> list[ToolResult]:
        """Run the call the user just confirmed (or submitted), as if the model made it now."""
        assert self._resume is not None
        (call, kind), self._resume = self._resume, None
        self.history.append({"role": "assistant", "content": None, "tool_calls": [call.to_model()]})
        run_ctx = self.run_context
        run_ctx.user_confirmed = kind == "confirm"
        run_ctx.user_submitted = kind == "submit"
        try:
            results = await run_tool_calls([call], self.tools, timeout=self.tool_timeout, ctx=ctx,
                                           run_context=run_ctx)
        finally:
            run_ctx.user_confirmed = run_ctx.user_submitted = False
        self.history.extend(r.to_message() for r in results)
        return results

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
        pending = self.pending
        if isinstance(value, ChatMessage) and value.type == APPROVAL and pending is not None:
            return ApprovalNeeded(call_id=pending.call.id, tool=pending.call.name,
                                  arguments=pending.call.arguments, prompt=value.content)
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


def _snake(name: str) -> str:
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


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
                        if self.output is not None or isinstance(event.value, ChatMessage):
                            yield self.final_reply(event.response, event.value, event.text,
                                                   event.usage)
                        else:
                            yield ChatMessage(role="assistant", content="",
                                              reasoning_content=event.response.reasoning,
                                              usage=event.usage)
        finally:
            if not committed:
                undo()
