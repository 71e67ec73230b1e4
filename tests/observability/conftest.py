"""Tracing and metrics switched on for one test, into in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from coagent.observability import disable_metrics, disable_tracing, enable_metrics, enable_tracing
from tests.gateway.conftest import serve

__all__ = ["Spans", "Metrics", "serve"]  # serve: the gateway tests' fixture, for the HTTP hop's


class Spans:
    """The spans a test made, with look-ups by name."""

    def __init__(self, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.exporter = exporter
        self.provider = provider

    def root(self, name: str = "caller") -> Any:
        """A CLIENT span of the test's own, made current (``with spans.root() as root:``)."""
        return self.provider.get_tracer("test").start_as_current_span(name, kind=SpanKind.CLIENT)

    @property
    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name.startswith(prefix)]

    def one(self, prefix: str) -> ReadableSpan:
        found = self.named(prefix)
        assert len(found) == 1, [s.name for s in self.all]
        return found[0]

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        by_id = {s.context.span_id: s for s in self.all}
        return by_id.get(span.parent.span_id)


@pytest.fixture
def spans() -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    try:
        yield Spans(exporter, provider)
    finally:
        disable_tracing()
        provider.shutdown()


@pytest.fixture
def content_spans() -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider, capture_content=True)
    try:
        yield Spans(exporter, provider)
    finally:
        disable_tracing()
        provider.shutdown()


class Metrics:
    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.reader = reader

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend(metric.data.data_points)
        return out


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    enable_metrics(provider)
    try:
        yield Metrics(reader)
    finally:
        disable_metrics()
        provider.shutdown()
