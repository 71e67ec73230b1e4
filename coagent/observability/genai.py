"""GenAI spans for the agents layer: ``chat`` per model call, ``execute_tool`` per tool call,
one span per pattern step. Imported (with OpenTelemetry) only once observability is on.

    with hooks.model_span(client, params) as call:      # in ModelClient.complete
        raw = await client._call(...)
        call.done(response)

Attribute names follow the GenAI semantic conventions (``conventions.py``); message
contents, prompts and tool arguments are recorded only with ``capture_content=True``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from coagent.observability import conventions as c
from coagent.observability.switch import state

__all__ = ["model_span", "traced_model_stream", "traced_tool", "step_span", "traced_step_stream",
           "ModelCall"]


def _tracer() -> trace.Tracer | None:
    from coagent.observability import hooks

    return hooks.tracer


def _instruments() -> Any:
    from coagent.observability import hooks

    return hooks.instruments


def provider_of(model: str) -> str:
    """``gen_ai.provider.name`` for a litellm model name (``"openai/gpt-4o"`` -> ``openai``)."""
    if "/" in model:
        return model.split("/", 1)[0]
    try:
        import litellm

        return str(litellm.get_llm_provider(model)[1])
    except Exception:  # litellm cannot tell: the convention's catch-all value
        return "_OTHER"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=lambda o: getattr(o, "__dict__", str(o)))
    except (TypeError, ValueError):
        return str(value)


def _messages(messages: Sequence[Any]) -> list[Any]:
    out = []
    for m in messages:
        to_model = getattr(m, "to_model", None)
        out.append(to_model() if to_model is not None else m)
    return out


class ModelCall:
    """One model call being traced and measured; :meth:`done` with its response."""

    __slots__ = ("attrs", "span", "start")

    def __init__(self, client: Any, messages: Sequence[Any], stream: bool) -> None:
        model = str(getattr(client, "model", "") or "")
        self.attrs = {
            c.GEN_AI_OPERATION_NAME: c.CHAT,
            c.GEN_AI_PROVIDER_NAME: provider_of(model),
            c.GEN_AI_REQUEST_MODEL: model,
        }
        self.start = time.perf_counter()
        tracer = _tracer()
        self.span: Span | None = None
        if tracer is not None:
            attributes: dict[str, Any] = dict(self.attrs)
            attributes[c.GEN_AI_REQUEST_STREAM] = stream
            if state.content:
                attributes[c.GEN_AI_INPUT_MESSAGES] = _json(_messages(messages))
            self.span = tracer.start_span(f"{c.CHAT} {model}", kind=SpanKind.CLIENT,
                                          attributes=attributes)

    def done(self, response: Any) -> None:
        """Record what the model answered (tokens, finish reason, model) and end."""
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        span = self.span
        if span is not None:
            finish = getattr(response, "finish_reason", None)
            if finish:
                span.set_attribute(c.GEN_AI_RESPONSE_FINISH_REASONS, [str(finish)])
            model = getattr(response, "model", None)
            if model:
                span.set_attribute(c.GEN_AI_RESPONSE_MODEL, str(model))
            span.set_attribute(c.GEN_AI_USAGE_INPUT_TOKENS, prompt)
            span.set_attribute(c.GEN_AI_USAGE_OUTPUT_TOKENS, completion)
            if state.content:
                message: dict[str, Any] = {"role": "assistant",
                                           "content": getattr(response, "content", "")}
                calls = getattr(response, "tool_calls", None)
                if calls:
                    message["tool_calls"] = [{"id": t.id, "name": t.name,
                                              "arguments": t.arguments} for t in calls]
                span.set_attribute(c.GEN_AI_OUTPUT_MESSAGES, _json([message]))
            span.end()
            self.span = None
        inst = _instruments()
        if inst is not None:
            inst.model_duration.record(time.perf_counter() - self.start, self.attrs)
            inst.tokens.record(prompt, {**self.attrs, c.GEN_AI_TOKEN_TYPE: "input"})
            inst.tokens.record(completion, {**self.attrs, c.GEN_AI_TOKEN_TYPE: "output"})
            cost = float(getattr(usage, "cost", 0.0) or 0.0)
            if cost:
                inst.cost.add(cost, {c.GEN_AI_REQUEST_MODEL: self.attrs[c.GEN_AI_REQUEST_MODEL]})

    def failed(self, exc: BaseException) -> None:
        """The call raised: record the error type and end."""
        span = self.span
        if span is not None:
            span.set_attribute(c.ERROR_TYPE, getattr(exc, "code", None) or type(exc).__name__)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.end()
            self.span = None
        inst = _instruments()
        if inst is not None:
            inst.model_duration.record(time.perf_counter() - self.start,
                                       {**self.attrs, c.ERROR_TYPE: type(exc).__name__})


@contextmanager
def model_span(client: Any, messages: Sequence[Any], stream: bool = False) -> Iterator[ModelCall]:
    """A ``chat`` span around one model call; call ``.done(response)`` inside it."""
    call = ModelCall(client, messages, stream)
    try:
        yield call
    except BaseException as exc:
        call.failed(exc)
        raise
    if call.span is not None:  # left without done(): no response to describe
        call.span.end()


async def traced_model_stream(client: Any, ms: Any, messages: Sequence[Any],
                              gen: AsyncGenerator[str, None]) -> AsyncGenerator[str, None]:
    """``gen`` (a model stream's deltas) inside a ``chat`` span, ended with ``ms.response``."""
    call = ModelCall(client, messages, True)
    try:
        async for delta in gen:
            yield delta
    except GeneratorExit:  # the consumer left early: no response to describe
        if call.span is not None:
            call.span.set_attribute(c.OUTCOME, c.CANCELLED)
            call.span.end()
        raise
    except BaseException as exc:
        call.failed(exc)
        raise
    finally:
        await gen.aclose()
    call.done(ms.response)


async def traced_tool(call: Any, tools: Mapping[str, Any],
                      run: Callable[[Any], Awaitable[Any]]) -> Any:
    """``run(call)`` (one tool call, giving a ``ToolResult``) inside an ``execute_tool`` span."""
    tracer = _tracer()
    if tracer is None:
        return await run(call)
    attributes: dict[str, Any] = {
        c.GEN_AI_OPERATION_NAME: c.EXECUTE_TOOL,
        c.GEN_AI_TOOL_NAME: call.name,
        c.GEN_AI_TOOL_CALL_ID: call.id or "",
        c.GEN_AI_TOOL_TYPE: "function",
    }
    if state.content:
        arguments = call.arguments
        attributes[c.GEN_AI_TOOL_CALL_ARGUMENTS] = (arguments if isinstance(arguments, str)
                                                    else _json(arguments))
    with tracer.start_as_current_span(f"{c.EXECUTE_TOOL} {call.name}", attributes=attributes,
                                      record_exception=True) as span:
        result = await run(call)
        if getattr(result, "is_error", False):
            span.set_attribute(c.ERROR_TYPE, "tool_error")
            span.set_status(Status(StatusCode.ERROR, str(getattr(result, "content", ""))[:200]))
        if state.content:
            span.set_attribute(c.GEN_AI_TOOL_CALL_RESULT, str(getattr(result, "content", "")))
        return result


def _step(pattern: Any, step: str) -> tuple[str, dict[str, Any]]:
    address = getattr(pattern, "address", None)
    own = address.name if address is not None else type(pattern).__name__
    return f"step {own}/{step}", {c.PATTERN: own, c.GEN_AI_WORKFLOW_NAME: own, c.STEP: step,
                                  c.ACTOR_TYPE: type(pattern).__name__}


@contextmanager
def step_span(pattern: Any, step: str) -> Iterator[Span | None]:
    """A span for one step of a pattern (the step's own handling span is its child)."""
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    name, attributes = _step(pattern, step)
    with tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


_END = object()


async def traced_step_stream(pattern: Any, step: str, stream: Any) -> AsyncGenerator[Any, None]:
    """A streamed pattern step (``stream`` is the unopened ``ctx.stream(...)``) in its span.

    The span is current only while the first item is awaited, which is when the stream
    opens and its envelope (or NATS request) takes the parent: a context attached across a
    ``yield`` could be detached from another task if the consumer drops the generator.
    """
    tracer = _tracer()
    if tracer is None:
        async for item in stream:
            yield item
        return
    name, attributes = _step(pattern, step)
    span = tracer.start_span(name, attributes=attributes)
    try:
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = _END
        finally:
            otel_context.detach(token)
        if first is not _END:
            yield first
            async for item in stream:
                yield item
    except GeneratorExit:
        span.set_attribute(c.OUTCOME, c.CANCELLED)
        raise
    except BaseException as exc:
        span.set_attribute(c.ERROR_TYPE, getattr(exc, "code", None) or type(exc).__name__)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)))
        raise
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
        span.end()
