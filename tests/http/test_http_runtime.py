"""HTTPRuntime: agents in this process, reached through a gateway, and reaching everything else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from httpx_sse import aconnect_sse

from coagent.actors.address import Address
from coagent.core import AgentSpec, new
from coagent.errors import (
    AgentAlreadyRegistered,
    AgentCrashed,
    DeadlineExceeded,
    TransportError,
    UnknownMessage,
)
from coagent.runtimes import HTTPRuntime
from tests.gateway.agents import EVENTS, Echo, GCount, GNote, GNoted, GPing, GPong, GSleep, GTick
from tests.http.conftest import Served, eventually

SERVED = "/v1/agents/remote/sessions/s1"


@pytest.fixture
async def hub(serve: Callable[..., Any]) -> Served:
    return await serve()  # type: ignore[no-any-return]


@pytest.fixture
async def remote(hub: Served) -> AsyncIterator[HTTPRuntime]:
    """An HTTPRuntime serving Echo as ``remote`` through the hub's gateway."""
    async with HTTPRuntime.from_server(hub.url, default_timeout=10.0) as runtime:
        await runtime.register(AgentSpec("remote", new(Echo), description="Echo, over HTTP"))
        yield runtime


async def test_http_clients_call_stream_and_tell_an_agent_served_by_an_http_runtime(
        hub: Served, remote: HTTPRuntime) -> None:
    r = await hub.client.post(SERVED + "/call", json={"type": "GPing", "content": {"n": 7}})
    assert r.status_code == 200 and r.json() == {"type": "GPong", "content": {"n": 7}}
    ticks = []
    async with aconnect_sse(hub.client, "POST", SERVED + "/stream",
                            json={"type": "GCount", "content": {"n": 5}}) as es:
        async for sse in es.aiter_sse():
            ticks.append((sse.event, json.loads(sse.data)))
    assert [t[1]["content"]["i"] for t in ticks if t[0] == "message"] == [0, 1, 2, 3, 4]
    assert ticks[-1] == ("end", {"count": 5})
    r = await hub.client.post(SERVED + "/tell", json={"type": "GNote", "content": {"text": "hi"}})
    assert r.status_code == 202
    r = await hub.client.post(SERVED + "/call", json={"type": "GNoted"})
    assert r.json()["content"] == {"texts": ["hi"]}
    # The session runs in the HTTPRuntime's process; the gateway holds a relay for it.
    assert [s.session for a in (await remote.tree()).agents for s in a.sessions] == ["s1"]
    assert "s1" in await hub.sessions("remote")


async def test_an_http_runtime_and_the_gateways_node_reach_each_others_agents(
        hub: Served, remote: HTTPRuntime) -> None:
    assert await hub.runtime.ask(Address("remote", "s2"), GPing(n=2)) == GPong(n=2)
    assert await remote.ask(Address("echo", "s2"), GPing(n=3)) == GPong(n=3)
    ticks = [t async for t in remote.stream(Address("echo", "s2"), GCount(n=3))]
    assert ticks == [GTick(i=0), GTick(i=1), GTick(i=2)]
    await remote.tell(Address("echo", "s2"), GNote(text="x"))
    assert await remote.ask(Address("echo", "s2"), GNoted()) == GNoted(texts=["x"])
    names = {name for name, _ in await remote.discover()}
    assert {"echo", "remote"} <= names


async def test_spec_run_and_run_stream_work_on_an_http_runtime(hub: Served, remote: HTTPRuntime) -> None:
    spec = AgentSpec("local_echo", new(Echo))
    await remote.register(spec)
    reply = await spec.run(GPing(n=4).encode())
    assert GPong.decode(reply) == GPong(n=4)
    items = [GTick.decode(x) async for x in spec.run_stream(GCount(n=2).encode())]
    assert items == [GTick(i=0), GTick(i=1)]
    r = await hub.client.post("/v1/agents/local_echo/call", json={"type": "GPing", "content": {"n": 5}})
    assert r.json()["content"] == {"n": 5}


async def test_errors_of_remote_handlers_arrive_typed_on_both_sides(hub: Served, remote: HTTPRuntime) -> None:
    with pytest.raises(AgentCrashed):
        await hub.runtime.ask(Address("remote", "s3"), GPing.__class__ and _boom())
    r = await hub.client.post(SERVED + "/call", json={"type": "Nope"})
    assert r.status_code == 400 and r.json()["code"] == "unknown_message"
    with pytest.raises(UnknownMessage):
        await remote.ask(Address("echo", "s3"), GNote.__class__ and _nope())
    with pytest.raises(AgentCrashed):
        async for _ in remote.stream(Address("echo", "s3"), GCount(n=3, fail_at=1)):
            pass


def _boom() -> Any:
    from tests.gateway.agents import GBoom

    return GBoom()


def _nope() -> Any:
    from coagent.actors.message import RawMessage

    return RawMessage.from_json("Nope", {})


async def test_a_deadline_cancels_the_handler_in_the_serving_process(hub: Served, remote: HTTPRuntime) -> None:
    with pytest.raises(DeadlineExceeded):
        await hub.runtime.ask(Address("remote", "s4"), GSleep(seconds=30, tag="d"), timeout=0.3)
    await eventually(lambda: EVENTS.get("d") == ["started", "cancelled"])
    with pytest.raises(DeadlineExceeded):
        await remote.ask(Address("echo", "s4"), GSleep(seconds=30, tag="e"), timeout=0.3)
    await eventually(lambda: EVENTS.get("e") == ["started", "cancelled"])


async def test_an_http_client_that_disconnects_cancels_the_remote_handler(
        hub: Served, remote: HTTPRuntime) -> None:
    call = asyncio.ensure_future(hub.client.post(SERVED + "/call", json={
        "type": "GSleep", "content": {"seconds": 30, "tag": "gone"}}))
    await eventually(lambda: EVENTS.get("gone") == ["started"])
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    await eventually(lambda: EVENTS.get("gone") == ["started", "cancelled"])


async def test_a_type_taken_by_another_process_is_refused_at_register(hub: Served, remote: HTTPRuntime) -> None:
    async with HTTPRuntime.from_server(hub.url) as other:
        with pytest.raises(AgentAlreadyRegistered):
            await other.register(AgentSpec("remote", new(Echo)))
        with pytest.raises(AgentAlreadyRegistered):
            await other.register(AgentSpec("echo", new(Echo)))
        assert other.specs() == []


async def test_deregistering_or_stopping_takes_the_type_off_the_gateway(hub: Served) -> None:
    async with HTTPRuntime.from_server(hub.url) as runtime:
        await runtime.register(AgentSpec("short", new(Echo)))
        assert "short" in {s.name for s in hub.runtime.specs()}
        await runtime.deregister("short")
        await eventually(lambda: "short" not in {s.name for s in hub.runtime.specs()})
        await runtime.register(AgentSpec("short", new(Echo)))
    await eventually(lambda: "short" not in {s.name for s in hub.runtime.specs()})


async def test_a_gateway_that_does_not_answer_fails_start_with_a_transport_error() -> None:
    from coagent.testing import free_port

    runtime = HTTPRuntime.from_server(f"http://127.0.0.1:{free_port()}", connect_deadline=1.0)
    with pytest.raises(TransportError):
        await runtime.start()


async def test_a_wrong_token_fails_start_with_unauthorized(serve: Callable[..., Any]) -> None:
    from coagent.gateway.auth import Tokens
    from coagent.gateway.errors import Unauthorized

    served = await serve(tokens=Tokens(["right"]))
    with pytest.raises(Unauthorized):
        await HTTPRuntime.from_server(served.url, auth="wrong").start()
    async with HTTPRuntime.from_server(served.url, auth="right") as runtime:
        await runtime.register(AgentSpec("authed", new(Echo)))
        assert await served.runtime.ask(Address("authed", "s1"), GPing(n=1)) == GPong(n=1)
        assert await runtime.ask(Address("echo", "s1"), GPing(n=1)) == GPong(n=1)
