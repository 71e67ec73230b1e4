"""Our serving API on the wire, driven with plain httpx as a client in another language would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.errors import AgentCrashed, CoagentError
from tests.http.conftest import Served, eventually


@asynccontextmanager
async def serving(served: Served, *names: str, node: str = "") -> AsyncIterator[asyncio.Queue[tuple[str, Any]]]:
    """Open ``/v1/serve`` for ``names``; yields a queue of (event, data) as they arrive."""
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    client = httpx.AsyncClient(base_url=served.url, timeout=None)

    async def read() -> None:
        async with aconnect_sse(client, "POST", "/v1/serve",
                                json={"agents": [{"name": n} for n in names], "node": node}) as es:
            async for sse in es.aiter_sse():
                await events.put((sse.event, json.loads(sse.data)))

    task = asyncio.ensure_future(read())
    try:
        event, data = await asyncio.wait_for(events.get(), 10)
        assert event == "ready" and data["agents"] == list(names) and data["provider"]
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


async def next_event(events: asyncio.Queue[tuple[str, Any]]) -> tuple[str, Any]:
    return await asyncio.wait_for(events.get(), 10)


async def test_a_delivery_is_answered_with_a_reply_post(served: Served) -> None:
    async with serving(served, "svc") as events:
        call = asyncio.ensure_future(served.client.post("/v1/agents/svc/sessions/s1/call",
                                                        json={"type": "Ping", "content": {"n": 1}}))
        event, d = await next_event(events)
        assert event == "deliver"
        assert (d["kind"], d["agent"], d["session"], d["type"], d["content"]) == ("ask", "svc", "s1", "Ping", {"n": 1})
        assert 0 < d["timeout"] <= 60  # the gateway's default timeout
        r = await served.client.post(f"/v1/deliveries/{d['call']}",
                                     json={"reply": {"type": "Pong", "content": {"n": 2}}})
        assert r.status_code == 204
        assert (await call).json() == {"type": "Pong", "content": {"n": 2}}
        again = await served.client.post(f"/v1/deliveries/{d['call']}", json={"reply": None})
        assert again.status_code == 404 and again.json()["code"] == "call_not_found"


async def test_stream_items_arrive_in_batches_and_end(served: Served) -> None:
    async with serving(served, "svc") as events:
        async def consume() -> list[Any]:
            return [json.loads(i.content) async for i in served.runtime.stream(
                Address("svc", "s1"), RawMessage.from_json("Count", {}), timeout=10)]

        got = asyncio.ensure_future(consume())
        _, d = await next_event(events)
        assert d["kind"] == "stream"
        for batch, end in (([0, 1], False), ([2], False), ([], True)):
            r = await served.client.post(f"/v1/deliveries/{d['call']}", json={
                "items": [{"type": "Tick", "content": {"i": i}} for i in batch], "end": end})
            assert r.status_code == 204
        assert await got == [{"i": 0}, {"i": 1}, {"i": 2}]


async def test_an_error_answer_reaches_the_caller_typed(served: Served) -> None:
    async with serving(served, "svc") as events:
        call = asyncio.ensure_future(served.runtime.ask(Address("svc", "s1"), RawMessage.from_json("Ping", {})))
        _, d = await next_event(events)
        await served.client.post(f"/v1/deliveries/{d['call']}", json={
            "error": {"code": "agent_crashed", "message": "ValueError: no", "details": {"exc_type": "ValueError"}}})
        with pytest.raises(AgentCrashed, match="ValueError: no"):
            await call
        call = asyncio.ensure_future(served.runtime.ask(Address("svc", "s1"), RawMessage.from_json("Ping", {})))
        _, d = await next_event(events)
        await served.client.post(f"/v1/deliveries/{d['call']}", json={
            "error": {"code": "quota_gone", "message": "out of quota"}})
        with pytest.raises(CoagentError) as info:
            await call
        assert info.value.code == "quota_gone"


async def test_a_caller_that_gives_up_sends_a_cancel_event(served: Served) -> None:
    async with serving(served, "svc") as events:
        with pytest.raises(CoagentError):
            await served.runtime.ask(Address("svc", "s1"), RawMessage.from_json("Ping", {}), timeout=0.3)
        _, d = await next_event(events)
        event, data = await next_event(events)
        assert (event, data) == ("cancel", {"call": d["call"]})


async def test_tells_are_delivered_without_a_call_id(served: Served) -> None:
    async with serving(served, "svc") as events:
        r = await served.client.post("/v1/agents/svc/sessions/s1/tell", json={"type": "Note", "content": {"t": 1}})
        assert r.status_code == 202
        _, d = await next_event(events)
        assert d["kind"] == "tell" and d["call"] == ""


async def test_answers_stream_as_lines_of_one_request(served: Served) -> None:
    async with serving(served, "svc") as events:
        calls = [asyncio.ensure_future(served.runtime.ask(Address("svc", f"s{i}"), RawMessage.from_json("Ping", {})))
                 for i in range(3)]
        ids = [(await next_event(events))[1]["call"] for _ in range(3)]
        provider = served.gateway.hosted.providers["svc"].id
        lines = b"".join(b'{"call":"%s","reply":{"type":"Pong","content":{"i":%d}}}\n' % (c.encode(), i)
                         for i, c in enumerate(ids))
        r = await served.client.post(f"/v1/serve/{provider}/answers", content=lines)
        assert r.status_code == 204
        replies = {json.loads((await c).content)["i"] for c in calls}
        assert replies == {0, 1, 2}


async def test_a_reconnect_with_the_same_node_replaces_the_old_stream(serve: Callable[..., Any]) -> None:
    served = await serve(specs=[])
    async with serving(served, "svc", node="w1"):
        async with serving(served, "svc", node="w1") as second:
            assert [s.name for s in served.runtime.specs()] == ["svc"]
            call = asyncio.ensure_future(served.runtime.ask(Address("svc", "s1"), RawMessage.from_json("Ping", {})))
            event, d = await next_event(second)
            assert event == "deliver"
            await served.client.post(f"/v1/deliveries/{d['call']}", json={"reply": None})
            assert await call is None
        r = await served.client.post("/v1/serve", json={"agents": [{"name": "x"}, {"name": "x"}]})
        assert r.status_code == 400
    await eventually(lambda: served.runtime.specs() == [])
