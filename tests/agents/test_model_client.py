"""ModelClient over the real litellm HTTP path, against FakeOpenAIServer."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from coagent.agents import (
    BadModelRequest,
    ModelAuthError,
    ModelClient,
    ModelNotConfigured,
    ModelTimeout,
    ModelUnavailable,
    RateLimited,
    ToolCall,
    Usage,
)
from coagent.agents.errors import MaxTurnsExceeded, OutputValidationError
from coagent.errors import CoagentError, error_types
from coagent.testing import ErrorReply, FakeOpenAIServer, Reply, free_port, tool_call
from tests.agents.helpers import Stopwatch, warm_litellm

ROOT = Path(__file__).resolve().parents[2]

warm_litellm()

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]


def test_importing_agents_and_test_kit_does_not_import_litellm() -> None:
    code = (
        "import sys, coagent.agents, coagent.testing, coagent.testing.pytest_plugin\n"
        "assert 'litellm' not in sys.modules, 'litellm imported'\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_NAME", "openai/gpt-4o-mini")
    monkeypatch.setenv("MODEL_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MODEL_API_VERSION", "2024-06-01")
    monkeypatch.setenv("MODEL_API_KEY", "sk-secret-value")
    client = ModelClient()
    assert (client.model, client.api_base, client.api_version) == (
        "openai/gpt-4o-mini", "http://127.0.0.1:9/v1", "2024-06-01")
    assert "sk-secret-value" not in repr(client) and "***" in repr(client)
    explicit = ModelClient(model="other/model", api_key="sk-2")
    assert explicit.model == "other/model" and explicit.api_base == "http://127.0.0.1:9/v1"


async def test_no_model_configured_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODEL_NAME", "MODEL_API_BASE", "MODEL_API_VERSION", "MODEL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    client = ModelClient()  # the seed builds its client at import time: that must not fail
    with pytest.raises(ModelNotConfigured, match="MODEL_NAME"):
        await client.complete([{"role": "user", "content": "hi"}])


async def test_complete_and_stream_with_usage_and_cost() -> None:
    async with FakeOpenAIServer(["Hello there", Reply("Bonjour le monde", chunks=["Bon", "jour", " le monde"])]) as server:
        client = server.client()
        response = await client.complete([{"role": "user", "content": "hi"}], temperature=0.3)
        assert response.content == "Hello there" and response.finish_reason == "stop"
        assert response.usage.requests == 1 and response.usage.total_tokens > 0
        assert response.usage.cost > 0  # gpt-4o-mini is in litellm's price map
        first = server.requests[0]
        assert first.messages == [{"role": "user", "content": "hi"}]
        assert first.model == "gpt-4o-mini" and not first.stream
        assert first.params["temperature"] == 0.3
        assert first.headers["authorization"] == "Bearer sk-fake"

        async with client.stream([{"role": "user", "content": "hi"}]) as stream:
            deltas = [d async for d in stream]
        assert deltas == ["Bon", "jour", " le monde"]
        assert stream.response is not None and stream.response.content == "Bonjour le monde"
        assert stream.response.usage.total_tokens > 0 and stream.response.usage.cost > 0
        second = server.requests[1]
        assert second.stream and second.params["stream_options"] == {"include_usage": True}
        total = response.usage + stream.response.usage
        assert client.usage == total and client.usage.requests == 2


async def test_tool_calls_json_and_streamed() -> None:
    calls = [tool_call("get_weather", city="Paris", id="call_a"),
             tool_call("get_weather", city="東京", id="call_b")]
    async with FakeOpenAIServer([Reply(tool_calls=calls), Reply("Checking.", tool_calls=calls)]) as server:
        client = server.client()
        response = await client.complete([{"role": "user", "content": "weather?"}], tools=TOOLS)
        assert response.tool_calls == calls and response.finish_reason == "tool_calls"
        assert server.requests[0].tool_names == ["get_weather"]
        stream = client.stream([{"role": "user", "content": "weather?"}], tools=TOOLS)
        streamed = await stream.collect()
        assert streamed.content == "Checking."
        assert [(c.id, c.name, json.loads(c.arguments)) for c in streamed.tool_calls] == [
            ("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_weather", {"city": "東京"})]
        assert response.to_message()["tool_calls"][1]["function"]["name"] == "get_weather"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(429, RateLimited), (400, BadModelRequest), (404, BadModelRequest), (422, BadModelRequest),
     (401, ModelAuthError), (403, ModelAuthError), (500, ModelUnavailable), (503, ModelUnavailable)],
)
async def test_provider_errors_are_typed_and_carry_the_provider_message(status: int, error_type: type) -> None:
    reply = ErrorReply(status, f"provider says {status}", retry_after=7 if status == 429 else None)
    async with FakeOpenAIServer([reply]) as server:
        with pytest.raises(error_type) as info:
            await server.client().complete([{"role": "user", "content": "hi"}])
    error = info.value
    assert isinstance(error, CoagentError)
    assert f"provider says {status}" in str(error)
    assert error.status_code == status
    if status == 429:
        assert error.retry_after == 7
    assert len(server.requests) == 1


async def test_connection_refused_is_model_unavailable() -> None:
    port = free_port()
    client = ModelClient(model="openai/gpt-4o-mini", api_base=f"http://127.0.0.1:{port}/v1",
                         api_key="sk-x", num_retries=0)
    with pytest.raises(ModelUnavailable, match="cannot reach"):
        await client.complete([{"role": "user", "content": "hi"}])


async def test_timeout_is_typed_and_drops_the_request() -> None:
    async with FakeOpenAIServer([Reply("late", delay=5)]) as server:
        client = server.client(timeout=0.3)
        with Stopwatch() as watch, pytest.raises(ModelTimeout):
            await client.complete([{"role": "user", "content": "hi"}])
        assert watch.elapsed < 2
        assert await server.wait_for_disconnects(1)


async def test_transient_errors_are_retried_with_backoff() -> None:
    steps = [ErrorReply(503, "overloaded"), ErrorReply(429, "slow down"), "finally"]
    async with FakeOpenAIServer(steps) as server:
        client = server.client(num_retries=2, backoff_min=0.1, backoff_max=0.1)
        with Stopwatch() as watch:
            response = await client.complete([{"role": "user", "content": "hi"}])
        assert response.content == "finally"
        assert len(server.requests) == 3
        assert watch.elapsed >= 0.1  # two waits of 0.05..0.1 s each
        assert client.usage.requests == 1  # failed attempts are not billed


async def test_retry_after_is_honoured_and_retries_run_out() -> None:
    steps = [ErrorReply(429, "wait", retry_after=0.3), ErrorReply(503, "down"), ErrorReply(503, "still down")]
    async with FakeOpenAIServer(steps) as server:
        client = server.client(num_retries=2, backoff_min=0.01, backoff_max=0.01)
        with Stopwatch() as watch, pytest.raises(ModelUnavailable, match="still down"):
            await client.complete([{"role": "user", "content": "hi"}])
        assert watch.elapsed >= 0.3
        assert len(server.requests) == 3


async def test_permanent_errors_are_not_retried() -> None:
    async with FakeOpenAIServer([ErrorReply(400, "bad tools"), "unused"]) as server:
        client = server.client(num_retries=3, backoff_min=0.01)
        with pytest.raises(BadModelRequest, match="bad tools"):
            await client.complete([{"role": "user", "content": "hi"}])
        assert len(server.requests) == 1 and server.script.remaining == 1


async def test_retries_never_outlive_the_call_timeout() -> None:
    async with FakeOpenAIServer([ErrorReply(429, "wait a minute", retry_after=60), "unused"]) as server:
        client = server.client(num_retries=5)
        with Stopwatch() as watch, pytest.raises(RateLimited, match="wait a minute"):
            await client.complete([{"role": "user", "content": "hi"}], timeout=2)
        assert watch.elapsed < 1 and len(server.requests) == 1


async def test_closing_a_stream_closes_the_provider_connection() -> None:
    words = " ".join(f"w{i}" for i in range(50))
    async with FakeOpenAIServer([Reply(words, chunk_delay=0.2)]) as server:
        stream = server.client().stream([{"role": "user", "content": "hi"}])
        got = []
        async for delta in stream:
            got.append(delta)
            if len(got) == 2:
                break
        await stream.aclose()
        assert await server.wait_for_disconnects(1, timeout=3)
        assert stream.response is None


async def test_cancelling_a_call_closes_the_provider_connection() -> None:
    async with FakeOpenAIServer([Reply("late", delay=10)]) as server:
        task = asyncio.ensure_future(server.client().complete([{"role": "user", "content": "hi"}]))
        while not server.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await server.wait_for_disconnects(1, timeout=3)


async def test_fake_server_checks_the_api_key_and_lists_models() -> None:
    import urllib.request

    async with FakeOpenAIServer(["hi"], api_key="sk-right") as server:
        with pytest.raises(ModelAuthError, match="Incorrect API key"):
            await server.client(api_key="sk-wrong").complete([{"role": "user", "content": "x"}])
        assert (await server.client().complete([{"role": "user", "content": "x"}])).content == "hi"

        def models() -> dict:
            req = urllib.request.Request(f"{server.base_url}/models",
                                         headers={"Authorization": "Bearer sk-right"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())

        listing = await asyncio.to_thread(models)
        assert listing["data"][0]["id"] == "gpt-4o-mini"


def test_fake_server_runs_in_a_thread_for_sync_code() -> None:
    with FakeOpenAIServer(["from a thread"]) as server:
        client = server.client()
        response = asyncio.run(client.complete([{"role": "user", "content": "hi"}]))
        assert response.content == "from a thread"
        assert server.requests[0].last_message == {"role": "user", "content": "hi"}
    server.assert_all_used()


def test_fake_server_reports_an_exhausted_script() -> None:
    with FakeOpenAIServer([]) as server:
        with pytest.raises(ModelUnavailable, match="no scripted step left"):
            asyncio.run(server.client().complete([{"role": "user", "content": "hi"}]))
        assert server.errors and "request #1" in server.errors[0]


def test_errors_cross_the_wire_by_code() -> None:
    codes = error_types()
    for cls in (RateLimited, ModelTimeout, ModelUnavailable, BadModelRequest, ModelAuthError,
                ModelNotConfigured, MaxTurnsExceeded, OutputValidationError):
        assert codes[cls.code] is cls
    error = pickle.loads(pickle.dumps(RateLimited("slow down", retry_after=2.5)))
    assert isinstance(error, RateLimited) and error.retry_after == 2.5 and error.status_code == 429
    assert str(error) == "slow down"


def test_tool_call_helper() -> None:
    call = tool_call("f", {"id": 3}, id="c1")
    assert call == ToolCall(id="c1", name="f", arguments='{"id":3}')


async def test_stream_opening_is_retried_and_a_stalled_stream_times_out() -> None:
    steps = [ErrorReply(429, "busy", retry_after=0), Reply("fine"), Reply("a b c d", chunk_delay=1.0), "unused"]
    async with FakeOpenAIServer(steps) as server:
        client = server.client(num_retries=1, timeout=0.3)
        assert (await client.stream([{"role": "user", "content": "x"}]).collect()).content == "fine"
        assert len(server.requests) == 2
        got = []
        with pytest.raises(ModelTimeout, match="did not answer in time"):
            async for delta in client.stream([{"role": "user", "content": "x"}], num_retries=0):
                got.append(delta)
        assert got == ["a "]  # a failure after the first chunk is never retried
        assert len(server.requests) == 3 and server.script.remaining == 1


def test_model_errors_survive_the_wire_codec() -> None:
    from coagent.transport.wire import decode_error, encode_error

    for error in (RateLimited("slow down", retry_after=1.5, model="m"), ModelUnavailable("down", status_code=503),
                  MaxTurnsExceeded("no answer after 3 model calls", max_turns=3)):
        back = decode_error(*encode_error(error))
        assert type(back) is type(error) and str(back) == str(error)
        assert back.details == {k: v for k, v in error.details.items() if v is not None}
    assert decode_error(*encode_error(RateLimited("x", retry_after=2.0))).retry_after == 2.0


def test_api_keys_stay_out_of_messages_and_reprs() -> None:
    from coagent.agents import ChatMessage

    client = ModelClient(model="openai/gpt-4o-mini", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(client)
    raw = ChatMessage(role="user", content="hi").encode()
    assert "sk-very-secret" not in repr(raw) and "key" not in " ".join(raw.header)


async def test_litellm_fallbacks_and_custom_prices_pass_through() -> None:
    async with FakeOpenAIServer([ErrorReply(503, "primary down")]) as primary, \
            FakeOpenAIServer(["from the fallback"]) as backup:
        client = primary.client(fallbacks=[{"model": "openai/gpt-4o", "api_base": backup.base_url,
                                            "api_key": "sk-backup"}])
        response = await client.complete([{"role": "user", "content": "hi"}])
        assert response.content == "from the fallback" and response.model == "gpt-4o"
        assert backup.requests[0].headers["authorization"] == "Bearer sk-backup"
        assert response.usage.cost > 0
    async with FakeOpenAIServer([Reply("priced", usage=Usage(prompt_tokens=1000, completion_tokens=100,
                                                             total_tokens=1100))]) as server:
        client = server.client(model="openai/my-private-model", input_cost_per_token=1e-6,
                               output_cost_per_token=4e-6)
        response = await client.complete([{"role": "user", "content": "hi"}])
        assert response.usage.cost == pytest.approx(1000 * 1e-6 + 100 * 4e-6)
