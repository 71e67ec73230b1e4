"""Tracing a tool-using agent inside a Sequential, offline, with OpenTelemetry.

    pip install 'coagent[otel]'
    python examples/observability/tracing.py                 # prints the trace as a tree
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \\
        python examples/observability/tracing.py             # sends it to any OTLP/HTTP collector

The model is scripted (no key, no network); the spans are the real ones: the pattern's
message, one span per step, ``invoke_agent`` per agent, ``chat`` per model call and
``execute_tool`` per tool call, all in one trace.
"""

from __future__ import annotations

import asyncio
import os

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from coagent import Address
from coagent.agents import ChatAgent, ChatMessage, Sequential
from coagent.core import AgentSpec, new
from coagent.observability import enable_tracing
from coagent.runtimes import LocalRuntime
from coagent.testing import FakeOpenAIServer, Reply, tool_call


def get_weather(city: str) -> str:
    """Today's weather in a city.

    Args:
        city: the city name.
    """
    return f"sunny in {city}, 21 °C"


def print_tree(spans: list[ReadableSpan]) -> None:
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def show(span: ReadableSpan, depth: int) -> None:
        attrs = span.attributes or {}
        tokens = ""
        if "gen_ai.usage.input_tokens" in attrs:
            tokens = f"  tokens in/out {attrs['gen_ai.usage.input_tokens']}/{attrs['gen_ai.usage.output_tokens']}"
        took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        print(f"{'  ' * depth}{span.name}  ({took:.1f} ms){tokens}")
        for child in children.get(span.context.span_id, []):
            show(child, depth + 1)

    for root in children.get(None, []):
        print(f"trace {root.context.trace_id:032x}")
        show(root, 1)


async def main() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "tracing-example"}))
    memory = InMemorySpanExporter()
    if os.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # reads OTEL_EXPORTER_OTLP_*
    provider.add_span_processor(SimpleSpanProcessor(memory))
    enable_tracing(provider)  # capture_content=True would add prompts, answers and tool arguments

    script = [Reply(tool_calls=[tool_call("get_weather", city="Paris")]), "Sunny in Paris.",
              "Il fait beau à Paris."]
    async with FakeOpenAIServer(script) as model, LocalRuntime() as runtime:
        await runtime.register(AgentSpec("weather", new(ChatAgent, client=model.client(), tools=[get_weather])))
        await runtime.register(AgentSpec("translator", new(ChatAgent, client=model.client(),
                                                           system="Translate into French.")))
        await runtime.register(AgentSpec("chain", new(Sequential, "weather", "translator")))
        reply = await runtime.ask(Address("chain", "s1"), ChatMessage(role="user", content="Weather in Paris?"))
    print(f"reply: {reply.content}")
    provider.shutdown()  # flushes the OTLP exporter
    print_tree(list(memory.get_finished_spans()))


if __name__ == "__main__":
    asyncio.run(main())
