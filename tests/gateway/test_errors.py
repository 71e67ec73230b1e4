"""Every error status of our API, each with its typed JSON body; bad input never reaches an agent."""

from __future__ import annotations

import asyncio

import pytest

from coagent.core import AgentSpec, new
from tests.gateway.agents import EVENTS, Echo
from tests.gateway.conftest import Served, eventually

CALL = "/v1/agents/echo/sessions/s1/call"


def assert_error(r, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code and body["message"], body
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"content": {}}', b'{"type": ""}',
                                     b'{"type": "GPing", "extra": 1}', b""])
async def test_a_malformed_body_is_400_and_reaches_no_agent(served: Served, content: bytes) -> None:
    r = await served.client.post(CALL, content=content, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")
    assert await served.sessions("echo") == []


async def test_an_unknown_message_type_is_400_and_starts_no_session(served: Served) -> None:
    r = await served.client.post(CALL, json={"type": "Nope"})
    body = assert_error(r, 400, "unknown_message")
    assert "GPing" in body["message"]
    assert await served.sessions("echo") == []


async def test_content_that_does_not_fit_the_message_type_is_400(served: Served) -> None:
    r = await served.client.post(CALL, json={"type": "GPing", "content": {"n": "seven"}})
    assert_error(r, 400, "message_decode_error")


@pytest.mark.parametrize("path", ["/v1/agents/bad name/sessions/s1/call",
                                  "/v1/agents/echo/sessions/a*b/call",
                                  "/v1/agents/echo/sessions/" + "x" * 129 + "/call",
                                  "/v1/agents/.echo/sessions/s1/tell"])
async def test_an_invalid_address_is_400(served: Served, path: str) -> None:
    r = await served.client.post(path, json={"type": "GPing"})
    assert_error(r, 400, "invalid_address")
    assert await served.sessions("echo") == []


async def test_an_unknown_agent_is_404(served: Served) -> None:
    assert_error(await served.client.post("/v1/agents/ghost/sessions/s1/call", json={"type": "GPing"}),
                 404, "agent_not_found")


async def test_an_unknown_endpoint_is_404_and_a_wrong_method_405(served: Served) -> None:
    assert_error(await served.client.get("/v2/nothing"), 404, "endpoint_not_found")
    assert_error(await served.client.get(CALL), 405, "method_not_allowed")


async def test_a_body_past_the_limit_is_413_whether_announced_or_chunked(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve(max_body=1000)
    big = {"type": "GNote", "content": {"text": "x" * 2000}}
    assert_error(await served.client.post(CALL, json=big), 413, "message_too_large")

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 100

    assert_error(await served.client.post(CALL, content=chunks()), 413, "message_too_large")
    assert await served.sessions("echo") == []
    ok = await served.client.post(CALL, json={"type": "GNote", "content": {"text": "x" * 900}})
    assert ok.status_code == 204


async def test_a_deadline_from_the_header_gives_504_and_cancels_the_handler(served: Served) -> None:
    r = await served.client.post(CALL, json={"type": "GSleep", "content": {"seconds": 30, "tag": "t"}},
                                 headers={"Coagent-Timeout": "0.2"})
    assert_error(r, 504, "deadline_exceeded")
    await eventually(lambda: EVENTS.get("t") == ["started", "cancelled"])


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf"])
async def test_a_bad_timeout_header_is_400(served: Served, value: str) -> None:
    r = await served.client.post(CALL, json={"type": "GPing"}, headers={"Coagent-Timeout": value})
    assert_error(r, 400, "bad_request")


async def test_a_timeout_past_the_maximum_is_cut_to_it(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve(max_timeout=0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    r = await served.client.post(CALL, json={"type": "GSleep", "content": {"seconds": 30, "tag": "m"}},
                                 headers={"Coagent-Timeout": "3600"})
    assert_error(r, 504, "deadline_exceeded")
    assert loop.time() - start < 5


async def test_a_crash_is_500_with_the_error_type_and_no_traceback(served: Served) -> None:
    r = await served.client.post(CALL, json={"type": "GBoom"})
    body = assert_error(r, 500, "agent_crashed")
    assert body["details"] == {"exc_type": "RuntimeError"}
    assert "Traceback" not in r.text and "File " not in r.text
    assert (await served.client.post(CALL, json={"type": "GPing", "content": {"n": 1}})).status_code == 200


async def test_too_many_sessions_is_429_with_retry_after(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve([AgentSpec("echo", new(Echo), max_sessions=1)])
    busy = asyncio.ensure_future(served.client.post(
        CALL, json={"type": "GSleep", "content": {"seconds": 2.0, "tag": "b"}}))
    await eventually(lambda: EVENTS.get("b") == ["started"])
    r = await served.client.post("/v1/agents/echo/sessions/s2/call", json={"type": "GPing"})
    assert_error(r, 429, "too_many_sessions")
    assert r.headers["Retry-After"] == "1"
    assert (await busy).status_code == 200


async def test_a_full_mailbox_is_429_with_retry_after(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve([AgentSpec("echo", new(Echo), mailbox_size=1)])
    slow = {"type": "GSleep", "content": {"seconds": 1.0, "tag": "f"}}
    busy = asyncio.ensure_future(served.client.post(CALL, json=slow))
    await eventually(lambda: EVENTS.get("f") == ["started"])
    queued = asyncio.ensure_future(served.client.post("/v1/agents/echo/sessions/s1/tell", json={"type": "GPing"}))
    for _ in range(500):  # until the tell fills the one place in the mailbox
        tree = await served.runtime.tree()
        if any(s.mailbox == 1 for a in tree.agents for s in a.sessions):
            break
        await asyncio.sleep(0.01)
    r = await served.client.post(CALL, json={"type": "GPing"}, headers={"Coagent-Timeout": "0.2"})
    assert_error(r, 429, "mailbox_full")
    assert r.headers["Retry-After"] == "1"
    assert (await busy).status_code == 200 and (await queued).status_code == 202


async def test_an_agent_past_its_restart_limit_is_503_with_retry_after(serve) -> None:  # type: ignore[no-untyped-def]
    served = await serve([AgentSpec("echo", new(Echo), max_restarts=0, period=30.0)])
    assert_error(await served.client.post(CALL, json={"type": "GBoom"}), 500, "agent_crashed")
    r = await served.client.post(CALL, json={"type": "GPing"})
    assert_error(r, 503, "restart_limit_exceeded")
    assert r.headers["Retry-After"] == "1"
