"""What the cell and the transports call when observability is on (never when it is off).

    from coagent.observability.switch import state as _obs
    if _obs.active:
        await _obs.hooks.dispatch(cell, env)      # one span per handled message
    else:
        await cell._dispatch(env)

This module imports OpenTelemetry at its top: it is imported only by ``enable_tracing()`` /
``enable_metrics()``, so a process that never switches them on never loads it. The
pieces the agents layer uses (model calls, tools, pattern steps) live in ``genai.py``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from coagent.observability import conventions as c
from coagent.observability.genai import (
    model_span,
    step_span,
    traced_model_stream,
    traced_step_stream,
    traced_tool,
)
from coagent.observability.switch import state

__all__ = ["dispatch", "capture", "inject", "extract", "after_crash", "Instruments",
           "model_span", "traced_model_stream", "traced_tool", "step_span", "traced_step_stream",
           "traced_http", "w3c_fields", "extract_fields"]

_propagator = TraceContextTextMapPropagator()
_EMPTY = otel_context.Context()

#: Set by ``enable_tracing()``; ``None`` while tracing is off.
tracer: trace.Tracer | None = None
#: Set by ``enable_metrics()``; ``None`` while metrics are off.
instruments: Instruments | None = None

_KINDS = ("tell", "ask", "stream")  # indexed by Envelope.kind (TELL=0, ASK=1, STREAM=2)

# The span of a message whose handler crashed stays open until the supervisor has decided
# (restart or terminate), so that decision lands on it as an event.
_crashing: weakref.WeakKeyDictionary[Any, Span] = weakref.WeakKeyDictionary()


class Instruments:
    """The OpenTelemetry instruments of one meter (see ``metrics.py`` for their names)."""

    def __init__(self, meter: Any) -> None:
        from coagent.observability.metrics import create

        for name, instrument in create(meter).items():
            setattr(self, name, instrument)

    handled: Any
    duration: Any
    crashes: Any
    restarts: Any
    tokens: Any
    model_duration: Any
    cost: Any


# ------------------------------------------------------------------ context


def capture() -> Any:
    """The caller's context, kept on an envelope so the handler's span gets its parent."""
    return otel_context.get_current()


def inject(headers: MutableMapping[str, str], ctx: Any = None) -> None:
    """Write ``traceparent`` (and ``tracestate``) of the current span into ``headers``."""
    _propagator.inject(headers, context=ctx)


def extract(headers: Mapping[str, str]) -> Any:
    """The remote parent carried by ``headers`` (``None`` when they carry none)."""
    if "traceparent" not in headers:
        return None
    return _propagator.extract(headers)


def w3c_fields() -> tuple[str, str]:
    """``traceparent`` and ``tracestate`` of the current span, for wires that carry them as
    fields rather than headers (a gateway's deliveries); ``""`` for each one missing."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent", ""), carrier.get("tracestate", "")


def extract_fields(traceparent: str, tracestate: str) -> Any:
    """The remote parent of a delivery's ``traceparent``/``tracestate`` (``None``: none)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _propagator.extract(carrier)


def attach_headers(headers: Mapping[str, str]) -> object | None:
    """Make the context in ``headers`` current (for a gateway request); pass the token to
    :func:`detach`. ``None`` when the headers carry no trace."""
    ctx = extract(headers)
    return None if ctx is None else otel_context.attach(ctx)


def detach(token: object | None) -> None:
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


# ------------------------------------------------------------------ handling


def _type_name(msg: Any) -> str:
    header = getattr(msg, "header", None)
    if header is not None and msg.__class__.__name__ == "RawMessage":
        return str(header.get("type", ""))
    return str(getattr(msg, "__message_type__", type(msg).__name__))


def _content(msg: Any) -> str:
    content = getattr(msg, "content", None)
    if isinstance(content, bytes | bytearray) and msg.__class__.__name__ == "RawMessage":
        return bytes(content).decode("utf-8", "replace")
    encode = getattr(msg, "encode", None)
    if encode is not None:
        try:
            return bytes(encode().content).decode("utf-8", "replace")
        except Exception:  # a message that cannot encode is still handled; record its repr
            pass
    return repr(msg)


def _provider(model: str) -> str:
    return model.split("/", 1)[0] if "/" in model else "openai"


def _start(cell: Any, env: Any) -> Span:
    assert tracer is not None
    address = cell.address
    inst = cell.instance
    cls = type(inst)
    parent = env.trace if env.trace is not None else _EMPTY
    remote = trace.get_current_span(parent).get_span_context().is_remote
    type_name = _type_name(env.msg)
    attributes: dict[str, Any] = {
        c.ACTOR_NAME: address.name,
        c.ACTOR_TYPE: cls.__name__,
        c.SESSION: address.session,
        c.MESSAGE_TYPE: type_name,
        c.MESSAGE_KIND: _KINDS[env.kind] if 0 <= env.kind < 3 else str(env.kind),
    }
    operation = getattr(cls, "__otel_operation__", None)
    if operation == c.INVOKE_AGENT:
        # An LLM agent: its handled message is the GenAI ``invoke_agent`` span.
        name = f"{c.INVOKE_AGENT} {address.name}"
        attributes[c.GEN_AI_OPERATION_NAME] = c.INVOKE_AGENT
        attributes[c.GEN_AI_AGENT_NAME] = address.name
        attributes[c.GEN_AI_AGENT_ID] = str(address)
        attributes[c.GEN_AI_CONVERSATION_ID] = address.session
        model = getattr(getattr(inst, "client", None), "model", None)
        if isinstance(model, str) and model:
            attributes[c.GEN_AI_REQUEST_MODEL] = model
            attributes[c.GEN_AI_PROVIDER_NAME] = _provider(model)
    else:
        name = f"handle {address.name}"
        if operation is not None:  # a pattern: a GenAI workflow
            attributes[c.GEN_AI_WORKFLOW_NAME] = address.name
    if state.content:
        attributes[c.MESSAGE_CONTENT] = _content(env.msg)
    return tracer.start_span(name, context=parent,
                             kind=SpanKind.SERVER if remote else SpanKind.INTERNAL,
                             attributes=attributes)


def _outcome(exc: BaseException) -> str:
    import asyncio

    return c.CANCELLED if isinstance(exc, asyncio.CancelledError) else c.ERROR


def _crashes(exc: BaseException) -> bool:
    """Whether ``exc`` out of a handler crashes the actor (the cell's own rule)."""
    import asyncio

    from coagent.errors import CoagentError

    if isinstance(exc, asyncio.CancelledError):
        return False
    if isinstance(exc, CoagentError):
        return bool(exc.restarts_actor)
    return isinstance(exc, Exception)


async def dispatch(cell: Any, env: Any) -> None:
    """``cell._dispatch(env)`` inside its span (made current, so calls it makes are its
    children), with the messages-handled and latency metrics."""
    inst = instruments
    start = time.perf_counter() if inst is not None else 0.0
    span = _start(cell, env) if tracer is not None else None
    token = otel_context.attach(trace.set_span_in_context(span, env.trace or _EMPTY)) \
        if span is not None else None
    outcome = c.OK
    try:
        await cell._dispatch(env)
    except BaseException as exc:
        outcome = _outcome(exc)
        if span is not None:
            span.set_attribute(c.OUTCOME, outcome)
            if outcome == c.ERROR:
                span.set_attribute(c.ERROR_TYPE, type(exc).__name__)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            if _crashes(exc):
                _crashing[cell] = span  # ended by after_crash, with the supervisor's decision
                span = None
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
        if span is not None:
            if outcome == c.OK:
                span.set_attribute(c.OUTCOME, c.OK)
            span.end()
        if inst is not None:
            # Per agent type: the registered name (many agent types share ChatAgent's class).
            name = cell.address.name
            inst.handled.add(1, {c.ACTOR_NAME: name, c.OUTCOME: outcome})
            inst.duration.record(time.perf_counter() - start, {c.ACTOR_NAME: name})


def _crash_span(cell: Any) -> tuple[Span | None, bool]:
    """The span a crash belongs to: the failed message's (owned here), else the current one."""
    span = _crashing.get(cell)
    if span is not None:
        return span, True
    current = trace.get_current_span()
    return (current if current.is_recording() else None), False


def crashed(cell: Any, exc: BaseException) -> None:
    """An actor crashed (before its supervisor decides): an event and the crash counter."""
    span, _ = _crash_span(cell)
    if span is not None:
        span.add_event(c.EVENT_CRASHED, {
            "exception.type": type(exc).__name__,
            "exception.message": str(exc),
            c.ACTOR_NAME: cell.address.name,
            c.SESSION: cell.address.session,
        })
    inst = instruments
    if inst is not None:
        inst.crashes.add(1, {c.ACTOR_NAME: cell.address.name})


def after_crash(cell: Any, exc: BaseException, restarted: bool) -> None:
    """The supervisor has decided about a crashed actor: restarted or terminated, as an
    event on the failed message's span (which ends here), and the restart counter."""
    span, owned = _crash_span(cell)
    _crashing.pop(cell, None)
    if span is not None:
        status = cell.status.value
        if restarted:
            span.add_event(c.EVENT_RESTARTED, {c.RESTARTS: cell.restarts})
        elif status == "stopped":
            span.add_event(c.EVENT_TERMINATED, {"coagent.error": cell.last_error or ""})
        if owned:
            span.end()
    inst = instruments
    if inst is not None and restarted:
        inst.restarts.add(1, {c.ACTOR_NAME: cell.address.name})


async def traced_http(request: Any, handler: Any, respond: Any) -> Any:
    """``await respond(request, handler)`` (the gateway's handling, error bodies included) in
    a SERVER span (HTTP semantic conventions) whose parent is the client's ``traceparent``;
    the calls the handler makes are its children."""
    if tracer is None:
        return await respond(request, handler)
    parent = extract(request.headers) or _EMPTY
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    attributes = {"http.request.method": request.method, "url.path": request.path,
                  "http.route": route}
    with tracer.start_as_current_span(f"{request.method} {route}", context=parent,
                                      kind=SpanKind.SERVER, attributes=attributes) as span:
        response = await respond(request, handler)
        status = getattr(response, "status", 0)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_attribute(c.ERROR_TYPE, str(status))
            span.set_status(Status(StatusCode.ERROR))
        return response
