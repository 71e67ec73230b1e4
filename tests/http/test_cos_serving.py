"""CoS agents served over HTTP exactly as the original's examples/cos/cos.py serves them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.errors import AgentDisconnected
from tests.http.conftest import Served, eventually
from tests.http.cos_client import Runtime, Server, StreamServer

PUBLISH = "/runtime/channel/publish"
MULTI = "/runtime/channel/publish_multi"


async def cos_served(serve: Callable[..., Any], **options: Any) -> tuple[Served, Runtime]:
    served = await serve(specs=[], **options)
    cos = Runtime(served.url)
    await cos.register("server", Server, "The Pong Server.")
    await cos.register("stream_server", StreamServer, "The Stream Pong Server.")
    await eventually(lambda: {s.name for s in served.runtime.specs()} == {"server", "stream_server"})
    return served, cos


async def test_a_cos_agent_answers_a_request_publish_with_its_pong(serve: Callable[..., Any]) -> None:
    served, cos = await cos_served(serve)
    try:
        r = await served.client.post(PUBLISH, json={
            "addr": {"name": "server", "id": "s1"}, "msg": {"header": {"type": "Ping"}},
            "request": True, "timeout": 5})
        assert r.status_code == 200, r.text
        assert r.json()["header"] == {"type": "Pong"} and json.loads(r.json()["content"]) == {}
        # The agent saw the original's shapes: AgentCreated, then the message with a reply topic.
        created = [e for e in cos.events if e["header"]["type"] == "AgentCreated"]
        assert json.loads(created[0]["content"]) == {"addr": {"name": "server", "id": "s1"}}
        received = cos.agents["s1"].received[0]
        assert received["header"]["type"] == "Ping" and received["reply"]["name"].startswith("_reply.")
    finally:
        await cos.close()


async def test_a_streamed_cos_answer_arrives_item_by_item_over_publish_multi(
        serve: Callable[..., Any]) -> None:
    served, cos = await cos_served(serve)
    try:
        words = []
        async with aconnect_sse(served.client, "POST", MULTI, json={
                "addr": {"name": "stream_server", "id": "s1"}, "msg": {"header": {"type": "Ping"}}}) as es:
            async for sse in es.aiter_sse():
                assert sse.event == "message"
                msg = json.loads(sse.data)
                assert msg["header"]["type"] == "PartialPong"
                words.append(json.loads(msg["content"])["content"])
        assert "".join(words) == "Hi there, this is the Pong server."
    finally:
        await cos.close()


async def test_python_callers_reach_cos_agents_through_the_node(serve: Callable[..., Any]) -> None:
    served, cos = await cos_served(serve)
    try:
        pong = await served.runtime.ask(Address("server", "s2"), RawMessage.from_json("Ping", {}), timeout=5)
        assert pong.header["type"] == "Pong"
        items = [item async for item in served.runtime.stream(
            Address("stream_server", "s3"), RawMessage.from_json("Ping", {}), timeout=5)]
        assert [json.loads(i.content)["content"] for i in items][:2] == ["Hi ", "there, "]
        # A tell reaches the agent without a reply topic, and nothing waits for an answer.
        await served.runtime.tell(Address("server", "s2"), RawMessage.from_json("Note", {}))
        await eventually(lambda: len(cos.agents["s2"].received) == 2)
        assert "reply" not in cos.agents["s2"].received[1]
    finally:
        await cos.close()


async def test_the_type_is_deregistered_when_its_register_stream_closes(serve: Callable[..., Any]) -> None:
    served, cos = await cos_served(serve)
    await cos.close()
    await eventually(lambda: served.runtime.specs() == [])
    r = await served.client.post(PUBLISH, json={"addr": {"name": "server", "id": "s1"},
                                                "msg": {"header": {"type": "Ping"}}, "request": True})
    assert r.status_code == 404 and r.json()["code"] == "agent_not_found"


async def test_an_in_flight_call_fails_at_once_when_the_agent_disconnects(serve: Callable[..., Any]) -> None:
    served = await serve(specs=[])
    cos = Runtime(served.url)

    class Silent(Server):
        async def handle(self, msg: dict[str, Any]) -> Any:  # type: ignore[override]
            await asyncio.sleep(3600)

    await cos.register("silent", Silent)
    await eventually(lambda: [s.name for s in served.runtime.specs()] == ["silent"])
    call = asyncio.ensure_future(served.runtime.ask(Address("silent", "s1"), RawMessage.from_json("Ping", {}),
                                                    timeout=60))
    await eventually(lambda: "s1" in cos.agents and bool(cos.agents["s1"].received))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await cos.close()
    try:
        await call
    except AgentDisconnected as exc:
        assert exc.code == "agent_disconnected"
    else:
        raise AssertionError("the call did not fail")
    assert loop.time() - started < 5


async def test_messages_wait_for_a_subscriber_that_reconnects_within_the_grace(
        serve: Callable[..., Any]) -> None:
    served, cos = await cos_served(serve, reconnect_grace=5.0)
    try:
        r = await served.client.post(PUBLISH, json={"addr": {"name": "server", "id": "s1"},
                                                    "msg": {"header": {"type": "Ping"}}, "request": True})
        assert r.status_code == 200
        agent = cos.agents["s1"]
        assert agent.task is not None
        agent.task.cancel()  # the subscriber drops; the register stream stays
        await asyncio.gather(agent.task, return_exceptions=True)
        await asyncio.sleep(0.2)
        call = asyncio.ensure_future(served.client.post(PUBLISH, json={
            "addr": {"name": "server", "id": "s1"}, "msg": {"header": {"type": "Ping"}}, "request": True,
            "timeout": 5}))
        await asyncio.sleep(0.3)
        assert not call.done()  # queued in the session's mailbox, not lost
        again = Server(agent.channel, agent.addr)
        cos.tasks.append(asyncio.create_task(agent.channel.subscribe(
            "/runtime/channel/subscribe", {"addr": agent.addr}, again.receive)))
        r = await call
        assert r.status_code == 200 and r.json()["header"]["type"] == "Pong"
        assert again.received[0]["header"]["type"] == "Ping"
    finally:
        await cos.close()


async def test_a_session_nobody_subscribes_to_ends_after_the_grace_with_agent_deleted(
        serve: Callable[..., Any]) -> None:
    served = await serve(specs=[], reconnect_grace=0.3)
    events: list[dict[str, Any]] = []

    async def register() -> None:
        async with aconnect_sse(served.client, "POST", "/runtime/register",
                                json={"name": "lazy", "description": ""}) as es:
            async for sse in es.aiter_sse():
                events.append(json.loads(sse.data))

    task = asyncio.ensure_future(register())
    try:
        await eventually(lambda: [s.name for s in served.runtime.specs()] == ["lazy"])
        r = await served.client.post(PUBLISH, json={"addr": {"name": "lazy", "id": "s1"},
                                                    "msg": {"header": {"type": "Ping"}}, "request": True,
                                                    "timeout": 10})
        assert r.status_code == 404 and r.json()["code"] == "agent_disconnected"
        await eventually(lambda: [e["header"]["type"] for e in events] == ["AgentCreated", "AgentDeleted"])
        assert json.loads(events[1]["content"]) == {"addr": {"name": "lazy", "id": "s1"}}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_serving_endpoints_need_the_token_when_the_gateway_has_one(serve: Callable[..., Any]) -> None:
    from coagent.gateway.auth import Tokens

    served = await serve(specs=[], tokens=Tokens(["s3cret"]))
    for path, body in [("/runtime/register", {"name": "x", "description": ""}),
                       ("/runtime/channel/subscribe", {"addr": {"name": "x", "id": "s1"}}),
                       ("/v1/serve", {"agents": [{"name": "x"}]})]:
        r = await served.client.post(path, json=body)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert served.runtime.specs() == []
    cos = Runtime(served.url, auth="s3cret")
    await cos.register("server", Server)
    try:
        await eventually(lambda: [s.name for s in served.runtime.specs()] == ["server"])
        r = await served.client.post(PUBLISH, headers={"Authorization": "Bearer s3cret"}, json={
            "addr": {"name": "server", "id": "s1"}, "msg": {"header": {"type": "Ping"}}, "request": True})
        assert r.status_code == 200 and r.json()["header"]["type"] == "Pong"
    finally:
        await cos.close()


async def test_a_bad_register_or_subscribe_body_is_400_and_registers_nothing(served: Served) -> None:
    for path, body in [("/runtime/register", b"nope"), ("/runtime/register", b'{"name": "a b"}'),
                       ("/runtime/channel/subscribe", b'{"addr": {"name": "echo", "id": ">"}}')]:
        r = await served.client.post(path, content=body)
        assert r.status_code in (400,), (path, body, r.text)
    r = await served.client.post("/runtime/register", json={"name": "echo", "description": ""})
    assert r.status_code == 409 and r.json()["code"] == "agent_already_registered"
    r = await served.client.post("/runtime/channel/subscribe", json={"addr": {"name": "echo", "id": "s9"}})
    assert r.status_code == 404


async def test_a_late_answer_to_a_finished_call_is_accepted_and_dropped(served: Served) -> None:
    r = await served.client.post(PUBLISH, json={"addr": {"name": "_reply.nothing"},
                                                "msg": {"header": {"type": "Pong"}}})
    assert r.status_code == 204
    assert isinstance(httpx, object)
