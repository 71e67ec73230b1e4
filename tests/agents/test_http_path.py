"""Every agent feature once more, end to end: agents -> ModelClient -> litellm -> HTTP -> FakeOpenAIServer."""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest

from coagent import Address
from coagent.agents import (
    ChatAgent,
    ChatMessage,
    FinalAnswer,
    GetUsage,
    ModelAuthError,
    ReActAgent,
    StreamChatAgent,
    ToolCallStep,
    ToolResultStep,
)
from coagent.core import AgentSpec, new
from coagent.errors import DeadlineExceeded
from coagent.runtimes import LocalRuntime
from coagent.testing import ErrorReply, FakeOpenAIServer, Reply, tool_call
from tests.agents.helpers import Concurrency, Stopwatch, collect, warm_litellm

warm_litellm()


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def test_streaming_chat_with_history_and_cost(runtime: LocalRuntime) -> None:
    async with FakeOpenAIServer([Reply("Hello, world!", chunks=["Hello", ",", " world", "!"]),
                                 "Bonjour !"]) as server:
        spec = AgentSpec("translator", new(StreamChatAgent, system="Translate.", client=server.client()))
        await runtime.register(spec)
        chunks = [ChatMessage.decode(c) for c in
                  await collect(spec.run_stream(user("你好，世界").encode(), session_id="s"))]
        assert "".join(c.content for c in chunks) == "Hello, world!"
        assert [c.content for c in chunks[:4]] == ["Hello", ",", " world", "!"]
        assert chunks[-1].usage is not None and chunks[-1].usage.cost > 0
        await collect(runtime.stream(Address("translator", "s"), user("in French")))
        assert server.requests[1].messages == [
            {"role": "system", "content": "Translate."},
            {"role": "user", "content": "你好，世界"},
            {"role": "assistant", "content": "Hello, world!"},
            {"role": "user", "content": "in French"},
        ]
        report = await runtime.ask(Address("translator", "s"), GetUsage())
        assert report.model == "openai/gpt-4o-mini"
        assert report.usage.requests == 2 and report.usage.cost > 0
        assert report.usage.total_tokens == sum(
            r.usage_for(q).total_tokens for r, q in ((Reply("Hello, world!"), server.requests[0]),
                                                     (Reply("Bonjour !"), server.requests[1])))


async def test_parallel_tool_calls_and_tool_errors(runtime: LocalRuntime) -> None:
    meter = Concurrency()

    async def fetch(url: str) -> str:
        """Fetch a page."""
        if "bad" in url:
            raise ConnectionError("host unreachable")
        await meter.hold(url, 0.2)
        return f"<{url}>"

    calls = [tool_call("fetch", url=u, id=f"c{i}") for i, u in enumerate(["a", "b", "bad", "c"])]
    async with FakeOpenAIServer([Reply(tool_calls=calls), "Fetched three of four."]) as server:
        await runtime.register(AgentSpec("web", new(ChatAgent, client=server.client(), tools=[fetch],
                                                    max_parallel_tools=3)))
        with Stopwatch() as watch:
            reply = await runtime.ask(Address("web", "s"), user("fetch them"))
        assert reply.content == "Fetched three of four."
        assert meter.peak == 3 and watch.elapsed < 1.5
        tool_messages = server.requests[1].tool_results
        assert [m["content"] for m in tool_messages] == [
            "<a>", "<b>", "Error: ConnectionError: host unreachable", "<c>"]
        assert server.requests[0].tools[0]["function"]["name"] == "fetch"


async def test_react_over_http(runtime: LocalRuntime) -> None:
    async def square(n: int) -> int:
        """Square a number."""
        return n * n

    async with FakeOpenAIServer([
        Reply("Let me compute.", tool_calls=[tool_call("square", n=12, id="c1")]),
        "12 squared is 144.",
    ]) as server:
        await runtime.register(AgentSpec("math", new(ReActAgent, client=server.client(), tools=[square])))
        steps = await collect(runtime.stream(Address("math", "s"), user("12^2?")))
        assert [type(s).__name__ for s in steps] == ["ThoughtStep", "ToolCallStep", "ToolResultStep", "FinalAnswer"]
        assert steps[1] == ToolCallStep(id="c1", name="square", arguments='{"n":12}', turn=1)
        assert steps[2] == ToolResultStep(id="c1", name="square", content="144", turn=1)
        assert isinstance(steps[3], FinalAnswer) and steps[3].content == "12 squared is 144."


class HttpCity(msgspec.Struct):
    name: str
    population: int


async def test_structured_output_with_a_retry_over_http(runtime: LocalRuntime) -> None:
    async with FakeOpenAIServer(['{"name": "Rome", "population": "many"}',
                                 '{"name": "Rome", "population": 2800000}']) as server:
        await runtime.register(AgentSpec("geo", new(ChatAgent, client=server.client(), output_type=HttpCity)))
        reply = await runtime.ask(Address("geo", "s"), user("Rome?"))
        assert reply.parse(HttpCity) == HttpCity(name="Rome", population=2800000)
        fmt = server.requests[0].params["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == ["name", "population"]
        assert "Expected `int`" in server.requests[1].messages[-1]["content"]


async def test_provider_errors_retries_and_typed_failures(runtime: LocalRuntime) -> None:
    async with FakeOpenAIServer([ErrorReply(429, "Rate limit reached", retry_after=0.05), "after the wait",
                                 ErrorReply(401, "Incorrect API key provided")]) as server:
        client = server.client(num_retries=1)
        await runtime.register(AgentSpec("bot", new(ChatAgent, client=client), backoff_min=0.0))
        addr = Address("bot", "s")
        assert (await runtime.ask(addr, user("hi"))).content == "after the wait"
        assert len(server.requests) == 2
        with pytest.raises(ModelAuthError, match="Incorrect API key provided") as info:
            await runtime.ask(addr, user("again"))
        assert info.value.status_code == 401 and len(server.requests) == 3


async def test_closing_the_agent_stream_closes_the_provider_connection(runtime: LocalRuntime) -> None:
    story = " ".join(f"word{i}" for i in range(100))
    async with FakeOpenAIServer([Reply(story, chunk_delay=0.1), "next"]) as server:
        await runtime.register(AgentSpec("bot", new(StreamChatAgent, client=server.client())))
        addr = Address("bot", "s")
        seen = []
        async with runtime.stream(addr, user("tell me a long story")) as stream:
            async for chunk in stream:
                seen.append(chunk.content)
                if len(seen) == 3:
                    break
        assert await server.wait_for_disconnects(1, timeout=3), "the provider never saw the request cancelled"
        assert seen == ["word0 ", "word1 ", "word2 "]
        await collect(runtime.stream(addr, user("short one")))
        assert [m["content"] for m in server.requests[1].messages] == ["short one"]


async def test_caller_deadline_cancels_the_provider_request(runtime: LocalRuntime) -> None:
    async with FakeOpenAIServer([Reply("slow " * 50, chunk_delay=0.1)]) as server:
        await runtime.register(AgentSpec("bot", new(StreamChatAgent, client=server.client())))
        got = []
        with pytest.raises(DeadlineExceeded):
            async for chunk in runtime.stream(Address("bot", "s"), user("hi"), timeout=0.5):
                got.append(chunk)
        assert 1 <= len(got) < 20
        assert await server.wait_for_disconnects(1, timeout=3)


async def test_many_sessions_share_one_client_concurrently(runtime: LocalRuntime) -> None:
    async with FakeOpenAIServer(default=lambda req: f"hello {req.last_message['content']}") as server:
        await runtime.register(AgentSpec("bot", new(ChatAgent, client=server.client())))
        replies = await asyncio.gather(*(runtime.ask(Address("bot", f"s{i}"), user(str(i))) for i in range(20)))
        assert sorted(r.content for r in replies) == sorted(f"hello {i}" for i in range(20))
        assert all(len(r.messages) == 1 for r in server.requests)
        assert json.loads(json.dumps(server.requests[0].messages)) == server.requests[0].messages
