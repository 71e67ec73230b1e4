"""The original's CoS calling endpoints, driven with httpx and httpx-sse as its cos.py does."""

from __future__ import annotations

import json

from httpx_sse import aconnect_sse

from tests.gateway.conftest import Served

PUBLISH = "/runtime/channel/publish"
MULTI = "/runtime/channel/publish_multi"


def raw(type_: str, content: dict | None = None) -> dict:  # type: ignore[type-arg]
    msg: dict = {"header": {"type": type_}}  # type: ignore[type-arg]
    if content is not None:
        msg["content"] = json.dumps(content)
    return msg


async def test_a_request_publish_answers_200_with_the_reply_raw_message(served: Served) -> None:
    r = await served.client.post(PUBLISH, json={
        "addr": {"name": "echo", "id": "s1"}, "msg": raw("GPing", {"n": 3}), "request": True,
        "reply": "", "timeout": 5, "probe": True,
    })
    assert r.status_code == 200
    body = r.json()
    # The original's shape: defaults left out, content a JSON *string*.
    assert body == {"header": {"type": "GPong"}, "content": '{"n":3}'}
    assert json.loads(body["content"]) == {"n": 3}


async def test_a_publish_without_request_is_delivered_and_answers_204(served: Served) -> None:
    r = await served.client.post(PUBLISH, json={"addr": {"name": "echo", "id": "s1"},
                                                "msg": raw("GNote", {"text": "hi"})})
    assert r.status_code == 204 and r.content == b""
    r = await served.client.post(PUBLISH, json={"addr": {"name": "echo", "id": "s1"},
                                                "msg": raw("GNoted"), "request": True})
    assert json.loads(r.json()["content"]) == {"texts": ["hi"]}


async def test_a_bare_header_message_and_extensions_round_trip(served: Served) -> None:
    msg = {"header": {"type": "GPing", "content_type": "application/json", "extensions": {"trace": "t1"}},
           "content": "{}"}
    r = await served.client.post(PUBLISH, json={"addr": {"name": "echo", "id": "s1"}, "msg": msg,
                                                "request": True})
    assert r.status_code == 200 and r.json()["header"] == {"type": "GPong"}


async def test_an_empty_session_id_gets_a_fresh_session(served: Served) -> None:
    for _ in range(2):
        r = await served.client.post(PUBLISH, json={"addr": {"name": "echo"}, "msg": raw("GPing"),
                                                    "request": True})
        assert r.status_code == 200
    assert len(await served.sessions("echo")) == 2


async def test_a_coagent_error_is_404_with_the_error_json(served: Served) -> None:
    for addr, msg, code in [({"name": "ghost", "id": "s1"}, raw("GPing"), "agent_not_found"),
                            ({"name": "echo", "id": "s1"}, raw("Nope"), "unknown_message"),
                            ({"name": "echo", "id": "s1"}, raw("GBoom"), "agent_crashed"),
                            ({"name": "echo", "id": "a b"}, raw("GPing"), "invalid_address")]:
        r = await served.client.post(PUBLISH, json={"addr": addr, "msg": msg, "request": True})
        assert r.status_code == 404, r.text
        assert r.json()["code"] == code and r.json()["message"]


async def test_a_request_past_its_timeout_is_404_deadline_exceeded(served: Served) -> None:
    r = await served.client.post(PUBLISH, json={
        "addr": {"name": "echo", "id": "s1"}, "msg": raw("GSleep", {"seconds": 30}), "request": True,
        "timeout": 0.2,
    })
    assert r.status_code == 404 and r.json()["code"] == "deadline_exceeded"


async def test_a_malformed_publish_body_is_400(served: Served) -> None:
    for body in [b"nope", b'{"addr": {"name": "echo"}}', b'{"addr": 1, "msg": {"header": {"type": "x"}}}']:
        r = await served.client.post(PUBLISH, content=body)
        assert r.status_code == 400 and r.json()["code"] == "bad_request"


async def test_publish_multi_streams_raw_messages_and_ends_by_closing(served: Served) -> None:
    async with aconnect_sse(served.client, "POST", MULTI, json={
        "addr": {"name": "echo", "id": "s1"}, "msg": raw("GCount", {"n": 3}), "probe": True,
    }) as source:
        events = [(sse.event, json.loads(sse.data)) async for sse in source.aiter_sse()]
    assert events == [("message", {"header": {"type": "GTick"}, "content": json.dumps({"i": i},
                                                                                      separators=(",", ":"))})
                      for i in range(3)]


async def test_publish_multi_reports_a_failure_as_an_error_event(served: Served) -> None:
    for msg, code, before in [(raw("GCount", {"n": 3, "fail_at": 1}), "agent_crashed", 1),
                              (raw("Nope"), "unknown_message", 0)]:
        async with aconnect_sse(served.client, "POST", MULTI, json={
            "addr": {"name": "echo", "id": "s1"}, "msg": msg}) as source:
            events = [(sse.event, json.loads(sse.data)) async for sse in source.aiter_sse()]
        assert [e for e, _ in events] == ["message"] * before + ["error"]
        assert events[-1][1]["code"] == code
