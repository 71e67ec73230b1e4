"""Observability: OpenTelemetry traces and metrics, off (and free) until switched on.

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from coagent.observability import enable_tracing

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # $OTEL_EXPORTER_OTLP_ENDPOINT
    enable_tracing(provider)              # capture_content=True also records message contents

    # or, as `coagent node` does, everything from the standard OTEL_* variables:
    from coagent.observability import configure_from_env
    configure_from_env()

Once on, every handled message is a span (``invoke_agent`` for LLM agents), with ``chat``
spans per model call, ``execute_tool`` per tool call and one per pattern step; W3C
``traceparent``/``tracestate`` travel in NATS and HTTP headers so one request is one trace
across processes. Needs the ``coagent[otel]`` extra; without it, or switched off, the
hot path checks one flag (``switch.state.active``) and does nothing else.

Layering: this package imports nothing of Coagent but ``coagent.errors``, and every
OpenTelemetry import lives in it (lazily, in ``hooks``/``genai``), so each layer (the cell,
the transports, the agents, the gateway, the CLI) can hook into it without depending on
the layers above.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from coagent.errors import CoagentError
from coagent.observability.switch import state

__all__ = [
    "enable_tracing", "disable_tracing", "enable_metrics", "disable_metrics",
    "configure_from_env", "tracing_enabled", "ObservabilityUnavailable", "state", "span",
]


class ObservabilityUnavailable(CoagentError):
    """OpenTelemetry is not installed: ``pip install 'coagent[otel]'``."""

    code = "observability_unavailable"


def _hooks() -> Any:
    try:
        from coagent.observability import hooks
    except ImportError as exc:
        raise ObservabilityUnavailable(
            f"tracing needs OpenTelemetry ({exc.name or exc}): pip install 'coagent[otel]'"
        ) from None
    return hooks


def enable_tracing(tracer_provider: Any = None, *, capture_content: bool = False) -> None:
    """Trace every handled message, model call, tool call and pattern step.

    Args:
        tracer_provider: where spans go (``None``: OpenTelemetry's global provider).
        capture_content: also record message contents, prompts, answers and tool
            arguments and results (off by default: they may hold personal data).

    ::

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        enable_tracing(provider)
    """
    hooks = _hooks()
    from opentelemetry import trace

    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    hooks.tracer = provider.get_tracer("coagent", _version())
    state.hooks = hooks
    state.tracing = True
    state.content = capture_content
    state.refresh()


def disable_tracing() -> None:
    """Stop tracing (spans already started end normally)."""
    state.tracing = False
    state.content = False
    if state.hooks is not None:
        state.hooks.tracer = None
    state.refresh()


def enable_metrics(meter_provider: Any = None) -> None:
    """Record Coagent's metrics (see ``coagent.observability.metrics``) with ``meter_provider``
    (``None``: OpenTelemetry's global one)."""
    hooks = _hooks()
    from opentelemetry import metrics

    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    hooks.instruments = hooks.Instruments(provider.get_meter("coagent", _version()))
    state.hooks = hooks
    state.metrics = True
    state.refresh()


def disable_metrics() -> None:
    """Stop recording metrics."""
    state.metrics = False
    if state.hooks is not None:
        state.hooks.instruments = None
    state.refresh()


def span(name: str, *, client: bool = False, **attributes: Any) -> AbstractContextManager[Any]:
    """A span of your own around some work, parent of the calls made inside it; a no-op
    (yielding ``None``) while tracing is off::

        with span("nightly import", batch=12):
            await runtime.ask(Address("importer", "s1"), Run())

    ``client=True`` makes it a CLIENT span (work that starts a call to elsewhere).
    """
    if not state.tracing or state.hooks is None or state.hooks.tracer is None:
        return nullcontext()
    from opentelemetry.trace import SpanKind

    return state.hooks.tracer.start_as_current_span(  # type: ignore[no-any-return]
        name, kind=SpanKind.CLIENT if client else SpanKind.INTERNAL, attributes=attributes)


def tracing_enabled() -> bool:
    """Whether spans are being made."""
    return state.tracing


_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_from_env(service_name: str | None = None) -> bool:
    """Switch tracing (and metrics) on from the standard ``OTEL_*`` variables; ``True`` if on.

    Tracing goes on when ``OTEL_TRACES_EXPORTER`` names ``otlp`` or ``console``, or when an
    OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``, exported over OTLP/HTTP
    protobuf); ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keep it off.
    Metrics follow ``OTEL_METRICS_EXPORTER`` the same way. ``COAGENT_OTEL_CAPTURE_CONTENT=1``
    records message contents. This is what ``coagent node`` and ``coagent gateway`` call.
    """
    if os.getenv("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = os.getenv("OTEL_TRACES_EXPORTER", "").lower()
    endpoint = any(os.getenv(v) for v in _ENDPOINT_VARS)
    if exporter == "none" or not (exporter in ("otlp", "console") or endpoint):
        return False
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as exc:
        raise ObservabilityUnavailable(
            f"OTEL_* variables ask for tracing but OpenTelemetry's SDK is missing ({exc.name}):"
            " pip install 'coagent[otel]'"
        ) from None
    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    provider = TracerProvider(resource=resource)  # flushes its processors at exit
    span_exporter: Any
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    capture = os.getenv("COAGENT_OTEL_CAPTURE_CONTENT", "").lower() in ("1", "true", "yes")
    enable_tracing(provider, capture_content=capture)
    if os.getenv("OTEL_METRICS_EXPORTER", "").lower() == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        enable_metrics(MeterProvider(resource=resource, metric_readers=[reader]))
    return True


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("coagent")
    except Exception:  # running from a source tree without metadata
        return "0"
