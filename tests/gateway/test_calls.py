"""Our API's calls: call, stream (SSE), tell, cancel, through a real server and client."""

from __future__ import annotations

import asyncio
import json

import httpx
from httpx_sse import aconnect_sse

from tests.gateway.agents import EVENTS
from tests.gateway.conftest import Served, eventually

CALL = "/v1/agents/echo/sessions/s1/call"
STREAM = "/v1/agents/echo/sessions/s1/stream"
TELL = "/v1/agents/echo/sessions/s1/tell"


async def test_a_call_returns_the_reply_as_json_with_its_session_and_call_id(served: Served) -> None:
    r = await served.client.post(CALL, json={"type": "GPing", "content": {"n": 7}})
    assert r.status_code == 200
    assert r.json() == {"type": "GPong", "content": {"n": 7}}
    assert r.headers["Coagent-Session"] == "s1"
    assert r.headers["Coagent-Call-Id"]


async def test_a_call_without_a_session_runs_in_a_fresh_one_named_in_the_response(served: Served) -> None:
    first = await served.client.post("/v1/agents/echo/call", json={"type": "GPing"})
    second = await served.client.post("/v1/agents/echo/call", json={"type": "GPing"})
    assert first.status_code == second.status_code == 200
    assert first.headers["Coagent-Session"] != second.headers["Coagent-Session"]
    assert set(await served.sessions("echo")) == {first.headers["Coagent-Session"],
                                                  second.headers["Coagent-Session"]}


async def test_a_handler_that_returns_nothing_answers_204(served: Served) -> None:
    r = await served.client.post(CALL, json={"type": "GNote", "content": {"text": "x"}})
    assert r.status_code == 204 and r.content == b""


async def test_a_stream_is_sse_with_ids_and_an_end_event(served: Served) -> None:
    async with aconnect_sse(served.client, "POST", STREAM,
                            json={"type": "GCount", "content": {"n": 3}}) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = [(e.id, e.event, json.loads(e.data)) async for e in source.aiter_sse()]
    assert events == [
        ("1", "message", {"type": "GTick", "content": {"i": 0}}),
        ("2", "message", {"type": "GTick", "content": {"i": 1}}),
        ("3", "message", {"type": "GTick", "content": {"i": 2}}),
        ("4", "end", {"count": 3}),
    ]


async def test_a_stream_that_fails_midway_ends_with_an_error_event(served: Served) -> None:
    async with aconnect_sse(served.client, "POST", STREAM,
                            json={"type": "GCount", "content": {"n": 5, "fail_at": 2}}) as source:
        events = [(e.id, e.event, json.loads(e.data)) async for e in source.aiter_sse()]
    assert [e[1] for e in events] == ["message", "message", "error"]
    assert events[2][0] == "3"
    assert events[2][2]["code"] == "agent_crashed"
    assert events[2][2]["message"] == "RuntimeError: failed at 2"


async def test_a_stream_that_fails_before_its_first_reply_answers_with_a_status(served: Served) -> None:
    r = await served.client.post(STREAM, json={"type": "GCount", "content": {"n": 5, "fail_at": 0}})
    assert r.status_code == 500
    assert r.json()["code"] == "agent_crashed"
    r = await served.client.post("/v1/agents/ghost/sessions/s1/stream", json={"type": "GCount"})
    assert r.status_code == 404 and r.json()["code"] == "agent_not_found"


async def test_an_empty_stream_is_just_an_end_event(served: Served) -> None:
    async with aconnect_sse(served.client, "POST", STREAM,
                            json={"type": "GCount", "content": {"n": 0}}) as source:
        events = [(e.id, e.event, e.data) async for e in source.aiter_sse()]
    assert events == [("1", "end", '{"count":0}')]


async def test_a_tell_is_accepted_and_delivered(served: Served) -> None:
    r = await served.client.post(TELL, json={"type": "GNote", "content": {"text": "a"}})
    assert r.status_code == 202 and r.json() == {"accepted": True, "replayed": False}
    r = await served.client.post(CALL, json={"type": "GNoted"})
    assert r.json()["content"] == {"texts": ["a"]}


async def test_a_repeated_idempotency_key_is_not_delivered_twice(served: Served) -> None:
    body = {"type": "GNote", "content": {"text": "once"}}
    headers = {"Idempotency-Key": "order-17"}
    first = await served.client.post(TELL, json=body, headers=headers)
    again = await asyncio.gather(*(served.client.post(TELL, json=body, headers=headers) for _ in range(5)))
    assert first.status_code == 202 and first.json()["replayed"] is False
    assert all(r.status_code == 202 and r.json()["replayed"] is True for r in again)
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in again)
    other = await served.client.post(TELL, json={"type": "GNote", "content": {"text": "next"}},
                                     headers={"Idempotency-Key": "order-18"})
    assert other.json()["replayed"] is False
    r = await served.client.post(CALL, json={"type": "GNoted"})
    assert r.json()["content"] == {"texts": ["once", "next"]}


async def test_concurrent_tells_with_one_key_deliver_once(served: Served) -> None:
    body = {"type": "GNote", "content": {"text": "race"}}
    replies = await asyncio.gather(*(
        served.client.post(TELL, json=body, headers={"Idempotency-Key": "k"}) for _ in range(10)
    ))
    assert sorted(r.json()["replayed"] for r in replies) == [False] + [True] * 9
    r = await served.client.post(CALL, json={"type": "GNoted"})
    assert r.json()["content"] == {"texts": ["race"]}


async def test_an_idempotency_key_reused_for_another_request_is_refused(served: Served) -> None:
    headers = {"Idempotency-Key": "k1"}
    await served.client.post(TELL, json={"type": "GNote", "content": {"text": "a"}}, headers=headers)
    r = await served.client.post(TELL, json={"type": "GNote", "content": {"text": "b"}}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"


async def test_idempotency_keys_expire_after_the_window(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve(idempotency_window=0.2)
    body, headers = {"type": "GNote", "content": {"text": "x"}}, {"Idempotency-Key": "k"}
    await served.client.post(TELL, json=body, headers=headers)
    await asyncio.sleep(0.3)
    r = await served.client.post(TELL, json=body, headers=headers)
    assert r.json()["replayed"] is False
    r = await served.client.post(CALL, json={"type": "GNoted"})
    assert r.json()["content"] == {"texts": ["x", "x"]}


async def test_an_explicit_cancel_stops_the_handler_and_is_idempotent(served: Served) -> None:
    call = asyncio.ensure_future(served.client.post(
        CALL, json={"type": "GSleep", "content": {"seconds": 30, "tag": "c"}},
        headers={"Coagent-Call-Id": "my-call"},
    ))
    await eventually(lambda: EVENTS.get("c") == ["started"])
    first = await served.client.delete("/v1/calls/my-call")
    assert first.status_code == 200 and first.json() == {"call_id": "my-call", "state": "cancelled"}
    r = await call
    assert r.status_code == 499 and r.json()["code"] == "call_cancelled"
    await eventually(lambda: EVENTS["c"] == ["started", "cancelled"])
    again = await served.client.delete("/v1/calls/my-call")
    assert again.json() == first.json()
    assert (await served.client.delete("/v1/calls/never-was")).json()["state"] == "unknown"
    # The actor serves its next message.
    assert (await served.client.post(CALL, json={"type": "GPing", "content": {"n": 2}})).status_code == 200


async def test_cancelling_a_finished_call_says_so(served: Served) -> None:
    r = await served.client.post(CALL, json={"type": "GPing"}, headers={"Coagent-Call-Id": "done"})
    assert r.status_code == 200
    assert (await served.client.delete("/v1/calls/done")).json()["state"] == "finished"


async def test_an_explicit_cancel_ends_a_stream_with_an_error_event(served: Served) -> None:
    seen: list[tuple[str, str]] = []
    async with aconnect_sse(served.client, "POST", STREAM,
                            json={"type": "GCount", "content": {"n": 1000, "delay": 0.05}},
                            headers={"Coagent-Call-Id": "s-call"}) as source:
        async for event in source.aiter_sse():
            seen.append((event.event, event.data))
            if len(seen) == 2:
                assert (await served.client.delete("/v1/calls/s-call")).json()["state"] == "cancelled"
    assert seen[-1][0] == "error" and json.loads(seen[-1][1])["code"] == "call_cancelled"
    assert len(seen) < 10


async def test_a_client_that_disconnects_from_a_call_cancels_the_handler(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=httpx.Timeout(10.0, read=0.5)) as quick:
        try:
            await quick.post(CALL, json={"type": "GSleep", "content": {"seconds": 30, "tag": "d"}})
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("the call should not have answered")
    await eventually(lambda: EVENTS.get("d") == ["started", "cancelled"])


async def test_a_client_that_disconnects_from_a_stream_cancels_the_handler(served: Served) -> None:
    got = 0
    async with (httpx.AsyncClient(base_url=served.url, timeout=10.0) as other,
                aconnect_sse(other, "POST", STREAM,
                             json={"type": "GCount", "content": {"n": 100000, "delay": 0.01}}) as source):
        async for _event in source.aiter_sse():
            got += 1
            if got == 3:
                break
    tree_of = served.runtime.tree

    async def busy() -> bool:
        tree = await tree_of()
        return any(s.status == "busy" for a in tree.agents for s in a.sessions)

    for _ in range(200):
        if not await busy():
            break
        await asyncio.sleep(0.02)
    assert not await busy(), "the streaming handler kept running after the client left"


async def test_a_quiet_stream_sends_keep_alive_comments(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve(sse_heartbeat=0.1)
    body = {"type": "GCount", "content": {"n": 2, "delay": 0.35}}
    for path in (STREAM, "/runtime/channel/publish_multi"):
        if path.startswith("/runtime"):
            body = {"addr": {"name": "echo", "id": "s1"},
                    "msg": {"header": {"type": "GCount"}, "content": json.dumps(body["content"])}}
        async with served.client.stream("POST", path, json=body) as r:
            text = (await r.aread()).decode()
        assert text.count(": keep-alive\n\n") >= 2, text
        assert text.count("data: ") >= 2


async def test_a_client_that_stalls_mid_body_gets_408(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve(body_timeout=0.3)
    host, port = served.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST " + CALL.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"type\":")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 408"), head
    writer.close()
    assert await served.sessions("echo") == []
