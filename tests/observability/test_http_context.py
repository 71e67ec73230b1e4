"""W3C trace context through the HTTP gateway: a client's ``traceparent`` parents the call."""

from __future__ import annotations

import httpx
from opentelemetry.trace import SpanKind

from coagent.core import AgentSpec, new
from coagent.gateway import Gateway
from coagent.runtimes import LocalRuntime
from tests.gateway.agents import Echo
from tests.observability.conftest import Spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


async def test_a_call_with_a_traceparent_header_joins_the_clients_trace(spans: Spans) -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("echo", new(Echo)))
        gateway = Gateway(runtime)
        await gateway.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
                r = await client.post(
                    "/v1/agents/echo/sessions/s1/call",
                    json={"type": "GPing", "content": {"n": 7}},
                    headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
                             "tracestate": "vendor=value"},
                )
        finally:
            await gateway.stop()
    assert r.status_code == 200, r.text
    http = spans.one("POST /v1/agents/{name}/sessions/{session}/call")
    assert http.kind == SpanKind.SERVER
    assert format(http.context.trace_id, "032x") == TRACE_ID
    assert http.parent is not None and format(http.parent.span_id, "016x") == PARENT_ID
    assert http.context.trace_state.get("vendor") == "value"
    assert http.attributes["http.response.status_code"] == 200  # type: ignore[index]
    handled = spans.one("handle echo")
    assert spans.parent_of(handled) is http
    assert handled.attributes["coagent.message.type"] == "GPing"  # type: ignore[index]


async def test_a_call_without_a_traceparent_starts_a_trace_of_its_own(spans: Spans) -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("echo", new(Echo)))
        gateway = Gateway(runtime)
        await gateway.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
                r = await client.post("/v1/agents/echo/sessions/s1/call", json={"type": "GPing"})
        finally:
            await gateway.stop()
    assert r.status_code == 200
    http = spans.one("POST ")
    assert http.parent is None
    assert spans.parent_of(spans.one("handle echo")) is http
