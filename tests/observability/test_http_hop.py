"""One trace across the HTTP transport: ``traceparent`` in the headers of HTTPRuntime's calls,
in the gateway's deliveries to it, and on the gateway's ``/v1`` and CoS endpoints; nothing of
it while tracing is off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from httpx_sse import aconnect_sse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from coagent import Actor, Address, Context, handler
from coagent.core import AgentSpec, new
from coagent.runtimes import HTTPRuntime, NATSRuntime
from coagent.testing import NATSServer
from tests.gateway.agents import Echo, GCount, GPing, GPong, GSleep, GTick
from tests.http.conftest import Served
from tests.observability.conftest import Metrics, Spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Forward(Actor):
    """Answers a GPing by asking ``echo`` (an agent of the gateway's node) for it."""

    @handler
    async def ping(self, msg: GPing, ctx: Context) -> GPong:
        reply: GPong = await ctx.ask(Address("echo", ctx.address.session), GPing(n=msg.n + 1))
        return reply


@pytest.fixture
async def hub(serve: Callable[..., Any]) -> Served:
    return await serve()  # type: ignore[no-any-return]


@pytest.fixture
async def serving(hub: Served) -> AsyncIterator[HTTPRuntime]:
    """An HTTPRuntime serving ``remote`` (Echo) and ``forward`` through the hub's gateway."""
    async with HTTPRuntime.from_server(hub.url, default_timeout=10.0) as runtime:
        await runtime.register(AgentSpec("remote", new(Echo)))
        await runtime.register(AgentSpec("forward", new(Forward)))
        yield runtime


def actor_type(span: ReadableSpan) -> object:
    return (span.attributes or {}).get("coagent.actor.type")


def handled(spans: Spans, name: str, type_name: str) -> ReadableSpan:
    found = [s for s in spans.named(f"handle {name}") if actor_type(s) == type_name]
    assert len(found) == 1, [(s.name, actor_type(s)) for s in spans.all]
    return found[0]


async def test_an_ask_through_the_gateway_to_an_http_runtime_is_one_trace_with_correct_parents(
        spans: Spans, hub: Served, serving: HTTPRuntime) -> None:
    async with HTTPRuntime.from_server(hub.url, default_timeout=10.0) as caller:
        with spans.root() as root:
            assert await caller.ask(Address("forward", "s1"), GPing(n=1)) == GPong(n=2)
    trace_id = root.get_span_context().trace_id
    # Every span but those of the runtimes' start (GET /v1/agents: a trace each) is in it.
    assert {s.context.trace_id for s in spans.all if s.name != "GET /v1/agents"} == {trace_id}
    posts = spans.named("POST /v1/agents/{name}/sessions/{session}/call")
    assert len(posts) == 2  # the caller's request, and the forward handler's own
    (first,) = [p for p in posts if getattr(spans.parent_of(p), "name", "") == "caller"]
    assert first.kind == SpanKind.SERVER
    relay = handled(spans, "forward", "Relay")  # the gateway's node: a relay of the served type
    assert spans.parent_of(relay) is first
    served = handled(spans, "forward", "Forward")  # the HTTPRuntime's process
    assert spans.parent_of(served) is relay
    assert served.kind == SpanKind.SERVER  # its parent came over the wire
    second = next(p for p in posts if p is not first)
    assert spans.parent_of(second) is served  # traceparent in the HTTPRuntime's request
    echo = handled(spans, "echo", "Echo")
    assert spans.parent_of(echo) is second
    assert second.attributes["http.response.status_code"] == 200  # type: ignore[index]


async def test_a_stream_delivered_to_an_http_runtime_joins_the_http_clients_trace(
        spans: Spans, hub: Served, serving: HTTPRuntime) -> None:
    async with hub.client.stream(
        "POST", "/v1/agents/remote/sessions/s2/stream", json={"type": "GCount", "content": {"n": 3}},
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": "vendor=value"},
    ) as r:
        body = (await r.aread()).decode()
    assert r.status_code == 200 and body.count("event: message") == 3
    http = spans.one("POST /v1/agents/{name}/sessions/{session}/stream")
    assert format(http.context.trace_id, "032x") == TRACE_ID
    assert http.parent is not None and format(http.parent.span_id, "016x") == PARENT_ID
    served = handled(spans, "remote", "Echo")
    assert spans.parent_of(served) is handled(spans, "remote", "Relay")
    assert spans.parent_of(handled(spans, "remote", "Relay")) is http
    assert format(served.context.trace_id, "032x") == TRACE_ID
    assert served.context.trace_state.get("vendor") == "value"  # tracestate crossed both hops
    assert served.attributes["coagent.message.kind"] == "stream"  # type: ignore[index]


async def test_streams_from_an_http_runtime_carry_the_callers_trace(
        spans: Spans, hub: Served, serving: HTTPRuntime) -> None:
    with spans.root() as root:
        ticks = [t async for t in serving.stream(Address("echo", "s3"), GCount(n=2))]
    assert ticks == [GTick(i=0), GTick(i=1)]
    http = spans.one("POST /v1/agents/{name}/sessions/{session}/stream")
    assert getattr(spans.parent_of(http), "name", "") == "caller"
    assert spans.parent_of(handled(spans, "echo", "Echo")) is http
    assert http.context.trace_id == root.get_span_context().trace_id


async def test_a_cos_publish_with_a_traceparent_header_joins_the_clients_trace(
        spans: Spans, hub: Served) -> None:
    r = await hub.client.post("/runtime/channel/publish", json={
        "addr": {"name": "echo", "id": "s4"}, "msg": {"header": {"type": "GPing"}, "content": '{"n": 3}'},
        "request": True, "reply": "", "timeout": 5,
    }, headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert r.status_code == 200, r.text
    http = spans.one("POST /runtime/channel/publish")
    assert format(http.context.trace_id, "032x") == TRACE_ID
    assert spans.parent_of(handled(spans, "echo", "Echo")) is http


async def test_an_error_answer_is_on_its_server_span_and_probes_and_polls_make_no_spans(
        spans: Spans, hub: Served) -> None:
    r = await hub.client.post("/v1/agents/nobody/sessions/s1/call", json={"type": "GPing"})
    assert r.status_code == 404
    for path in ("/v1/health", "/v1/tree", "/", "/openapi.json"):
        assert (await hub.client.get(path)).status_code == 200, path
    (only,) = spans.all
    assert only.name == "POST /v1/agents/{name}/sessions/{session}/call"
    assert only.attributes["http.response.status_code"] == 404  # type: ignore[index]


async def test_calls_in_flight_are_read_from_the_http_transport_and_the_gateway(
        metrics: Metrics, hub: Served, serving: HTTPRuntime) -> None:
    async with HTTPRuntime.from_server(hub.url, default_timeout=10.0) as caller:
        call = asyncio.ensure_future(caller.ask(Address("remote", "s5"), GSleep(seconds=5), timeout=10))

        def flying() -> dict[tuple[object, object], object]:
            return {(p.attributes["coagent.transport"], p.attributes["coagent.node"]): p.value
                    for p in metrics.points("coagent.transport.calls_in_flight")}

        want = {("HTTPTransport", caller.name): 1, ("HTTPTransport", serving.name): 1,
                ("HTTPGateway", hub.runtime.name): 2}  # the caller's request, and its delivery
        for _ in range(100):
            if all(flying().get(k) == v for k, v in want.items()):
                break
            await asyncio.sleep(0.05)
        assert {k: flying().get(k) for k in want} == want
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        for _ in range(100):
            if all(flying().get(k) == 0 for k in want):
                break
            await asyncio.sleep(0.05)
        assert {k: flying().get(k) for k in want} == dict.fromkeys(want, 0)


async def test_a_delivery_carries_the_relays_traceparent_only_while_tracing_is_on(
        spans: Spans, hub: Served) -> None:
    from coagent.observability import disable_tracing, enable_tracing

    async with serve_by_hand(hub, "svc") as events:
        for session in ("on", "off"):
            call = asyncio.ensure_future(hub.client.post(f"/v1/agents/svc/sessions/{session}/call",
                                                         json={"type": "GPing", "content": {"n": 1}}))
            event, d = await asyncio.wait_for(events.get(), 10)
            assert event == "deliver" and d["session"] == session
            if session == "off":
                assert "traceparent" not in d and "tracestate" not in d
            r = await hub.client.post(f"/v1/deliveries/{d['call']}",
                                      json={"reply": {"type": "GPong", "content": {"n": 1}}})
            assert r.status_code == 204 and (await call).status_code == 200
            if session == "on":
                relay = handled(spans, "svc", "Relay")  # ended once answered
                context = relay.context
                assert d["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
                disable_tracing()
        enable_tracing(spans.provider)  # as the fixture left it, for its clean-up


async def test_http_runtime_requests_carry_the_current_span_as_traceparent_only_while_tracing_is_on(
        spans: Spans) -> None:
    from coagent.observability import disable_tracing, enable_tracing

    seen: list[dict[str, str]] = []

    async def agents(request: web.Request) -> web.Response:
        return web.json_response({"agents": []})

    async def call(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"type": "GPong", "content": {"n": 1}})

    app = web.Application()
    app.router.add_get("/v1/agents", agents)
    app.router.add_post("/v1/agents/{name}/sessions/{session}/call", call)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with HTTPRuntime.from_server(url, default_timeout=5.0) as runtime:
            with spans.root() as root:
                assert await runtime.ask(Address("pong", "s1"), GPing()) == GPong(n=1)
            disable_tracing()
            assert await runtime.ask(Address("pong", "s1"), GPing()) == GPong(n=1)
            enable_tracing(spans.provider)
    finally:
        await runner.cleanup()
    context = root.get_span_context()
    assert seen[0]["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert "traceparent" not in seen[1] and "tracestate" not in seen[1]


@asynccontextmanager
async def serve_by_hand(hub: Served, *names: str) -> AsyncIterator[asyncio.Queue[tuple[str, Any]]]:
    """``/v1/serve`` opened with plain httpx, as a client in another language would."""
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def read(client: httpx.AsyncClient) -> None:
        async with aconnect_sse(client, "POST", "/v1/serve",
                                json={"agents": [{"name": n} for n in names]}) as es:
            async for sse in es.aiter_sse():
                await events.put((sse.event, json.loads(sse.data)))

    async with httpx.AsyncClient(base_url=hub.url, timeout=None) as client:
        task = asyncio.ensure_future(read(client))
        try:
            event, _ = await asyncio.wait_for(events.get(), 10)
            assert event == "ready"
            yield events
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_with_tracing_off_calls_over_nats_and_http_touch_no_hook_and_make_no_span(
        monkeypatch: pytest.MonkeyPatch, hub: Served, serving: HTTPRuntime, nats_server: NATSServer) -> None:
    from opentelemetry.sdk.trace import Tracer

    from coagent.observability.switch import state

    made: list[str] = []
    original = Tracer.start_span

    def counting(self: Tracer, name: str, *args: object, **kwargs: object) -> object:
        made.append(name)
        return original(self, name, *args, **kwargs)  # type: ignore[arg-type]

    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"a transport used hooks.{name} with tracing off")

    monkeypatch.setattr(Tracer, "start_span", counting)
    monkeypatch.setattr(state, "hooks", Untouchable())
    assert not state.active
    r = await hub.client.post("/v1/agents/forward/sessions/t1/call", json={"type": "GPing", "content": {"n": 1}})
    assert r.status_code == 200 and r.json()["content"] == {"n": 2}  # gateway -> HTTPRuntime -> gateway
    assert [t async for t in serving.stream(Address("echo", "t2"), GCount(n=2))] == [GTick(i=0), GTick(i=1)]
    async with NATSRuntime.from_servers(nats_server.url, prefix="oteloff", name="off1") as node, \
            NATSRuntime.from_servers(nats_server.url, prefix="oteloff", announce=False) as client:
        await node.register(AgentSpec("echo", new(Echo)))
        assert await client.ask(Address("echo", "t3"), GPing(n=4)) == GPong(n=4)
        assert [t async for t in client.stream(Address("echo", "t3"), GCount(n=1))] == [GTick(i=0)]
    assert made == []
