"""ChatAgent and StreamChatAgent on the local runtime, driven by ScriptedModel."""

from __future__ import annotations

import asyncio

import pytest

from coagent import Address
from coagent.agents import (
    ChatAgent,
    ChatHistory,
    ChatMessage,
    GetUsage,
    RateLimited,
    StreamChatAgent,
    Usage,
    UsageReport,
)
from coagent.core import AgentSpec, new
from coagent.errors import AgentCrashed, DeadlineExceeded
from coagent.runtimes import LocalRuntime
from coagent.testing import ErrorReply, ModelRequest, Reply, ScriptedModel, ScriptExhausted
from tests.agents.helpers import collect


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def test_chat_agent_replies_with_one_message(runtime: LocalRuntime, scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply("Hello!", usage=Usage(prompt_tokens=10, completion_tokens=2, total_tokens=12, cost=0.5)))
    await runtime.register(AgentSpec("bot", new(ChatAgent, system="Be brief.", client=scripted_model)))
    reply = await runtime.ask(Address("bot", "s"), user("hi"))
    assert isinstance(reply, ChatMessage)
    assert (reply.role, reply.content) == ("assistant", "Hello!")
    assert reply.usage == Usage(requests=1, prompt_tokens=10, completion_tokens=2, total_tokens=12, cost=0.5)
    [request] = scripted_model.requests
    assert request.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert request.system == "Be brief." and not request.stream and request.tools is None
    scripted_model.assert_all_used()


async def test_stream_chat_agent_streams_deltas_then_usage(runtime: LocalRuntime) -> None:
    model = ScriptedModel([Reply("Hello, world!", chunks=["Hello", ",", " world", "!"])])
    spec = AgentSpec("translator", new(StreamChatAgent, system="Translate.", client=model))
    await runtime.register(spec)
    chunks = await collect(spec.run_stream(user("你好，世界").encode(), session_id="s"))
    messages = [ChatMessage.decode(c) for c in chunks]
    assert [m.content for m in messages] == ["Hello", ",", " world", "!", ""]
    assert all(m.role == "assistant" for m in messages)
    assert [m.usage is not None for m in messages] == [False] * 4 + [True]
    assert messages[-1].usage.requests == 1 and messages[-1].usage.total_tokens > 0
    assert model.requests[0].stream


async def test_history_is_per_session_and_never_shared(runtime: LocalRuntime) -> None:
    model = ScriptedModel(default=lambda req: f"echo {req.last_message['content']}")
    await runtime.register(AgentSpec("bot", new(StreamChatAgent, system="S", client=model)))
    a, b = Address("bot", "a"), Address("bot", "b")
    await collect(runtime.stream(a, user("a1")))
    await collect(runtime.stream(b, user("b1")))
    await collect(runtime.stream(a, user("")))  # an empty message is kept, not dropped
    await collect(runtime.stream(b, user("b2")))
    sent = [[m["content"] for m in r.messages] for r in model.requests]
    assert sent == [
        ["S", "a1"],
        ["S", "b1"],
        ["S", "a1", "echo a1", ""],
        ["S", "b1", "echo b1", "b2"],
    ]


async def test_chat_history_is_adopted_and_answered(runtime: LocalRuntime) -> None:
    model = ScriptedModel(["Your name is Ada.", "You said your name is Ada."])
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model)))
    addr = Address("bot", "s")
    history = ChatHistory(messages=[
        user("My name is Ada."), ChatMessage(role="assistant", content="Hello Ada."), user("What is my name?"),
    ])
    reply = await runtime.ask(addr, history)
    assert reply.content == "Your name is Ada."
    assert [m["content"] for m in model.requests[0].messages] == [
        "My name is Ada.", "Hello Ada.", "What is my name?"]
    await runtime.ask(addr, user("And what did I say?"))
    assert [m["content"] for m in model.requests[1].messages] == [
        "My name is Ada.", "Hello Ada.", "What is my name?", "Your name is Ada.", "And what did I say?"]


async def test_usage_is_aggregated_per_session_and_readable(runtime: LocalRuntime) -> None:
    def costly(req: ModelRequest) -> Reply:
        return Reply("ok", usage=Usage(prompt_tokens=100, completion_tokens=10, total_tokens=110, cost=0.01))

    model = ScriptedModel(default=costly)
    spec = AgentSpec("bot", new(ChatAgent, client=model))
    await runtime.register(spec)
    for _ in range(3):
        await runtime.ask(Address("bot", "a"), user("x"))
    await runtime.ask(Address("bot", "b"), user("x"))
    report_a = await runtime.ask(Address("bot", "a"), GetUsage())
    assert isinstance(report_a, UsageReport) and report_a.model == "scripted-model"
    assert report_a.usage.requests == 3 and report_a.usage.total_tokens == 330
    assert report_a.usage.cost == pytest.approx(0.03)
    raw = await spec.run(GetUsage().encode(), session_id="b")  # readable over the wire too
    assert UsageReport.decode(raw).usage.requests == 1
    assert model.usage.requests == 4 and model.usage.cost == pytest.approx(0.04)


async def test_max_history_drops_whole_old_turns(runtime: LocalRuntime) -> None:
    model = ScriptedModel(default="ok")
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model, max_history=4)))
    addr = Address("bot", "s")
    for i in range(4):
        await runtime.ask(addr, user(f"q{i}"))
    assert [m["content"] for m in model.requests[-1].messages] == ["q1", "ok", "q2", "ok", "q3"]
    assert model.requests[-1].messages[0]["role"] == "user"


async def test_provider_error_reaches_the_caller_typed(runtime: LocalRuntime) -> None:
    model = ScriptedModel([RateLimited("slow down", retry_after=1.0), ErrorReply(401, "bad key"), "fine"])
    await runtime.register(AgentSpec("bot", new(StreamChatAgent, client=model), backoff_min=0.0))
    addr = Address("bot", "s")
    with pytest.raises(RateLimited, match="slow down") as info:
        await collect(runtime.stream(addr, user("hi")))
    assert info.value.retry_after == 1.0
    from coagent.agents import ModelAuthError

    with pytest.raises(ModelAuthError, match="bad key"):
        await runtime.ask(addr, user("hi"))
    assert [ChatMessage.decode(c.encode()).content for c in await collect(runtime.stream(addr, user("hi")))] == ["fine", ""]


async def test_closing_the_stream_cancels_the_model_call_and_rolls_back(runtime: LocalRuntime) -> None:
    slow = Reply(" ".join(f"w{i}" for i in range(100)), chunk_delay=0.05)
    model = ScriptedModel([slow, "second"])
    await runtime.register(AgentSpec("bot", new(StreamChatAgent, client=model)))
    addr = Address("bot", "s")
    async with runtime.stream(addr, user("long story")) as stream:
        async for _chunk in stream:
            break
    for _ in range(100):
        if model.cancelled:
            break
        await asyncio.sleep(0.01)
    assert model.cancelled == 1
    await collect(runtime.stream(addr, user("short")))
    # The abandoned turn left no trace in the history.
    assert [m["content"] for m in model.requests[1].messages] == ["short"]


async def test_caller_deadline_cancels_the_model_call(runtime: LocalRuntime) -> None:
    model = ScriptedModel([Reply("late", delay=30), "on time"])
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model)))
    addr = Address("bot", "s")
    with pytest.raises(DeadlineExceeded):
        await runtime.ask(addr, user("hi"), timeout=0.2)
    await asyncio.sleep(0.05)
    assert model.cancelled == 1
    assert (await runtime.ask(addr, user("again"), timeout=2)).content == "on time"
    assert [m["content"] for m in model.requests[1].messages] == ["again"]


async def test_scripted_model_responders_and_exhaustion(runtime: LocalRuntime) -> None:
    async def async_responder(req: ModelRequest) -> str:
        await asyncio.sleep(0)
        return f"{len(req.messages)} messages"

    model = ScriptedModel([async_responder])
    await runtime.register(AgentSpec("bot", new(ChatAgent, system="S", client=model)))
    addr = Address("bot", "s")
    assert (await runtime.ask(addr, user("hi"))).content == "2 messages"
    with pytest.raises(AgentCrashed, match="no scripted step left for request #2"):
        await runtime.ask(addr, user("again"))
    leftover = ScriptedModel(["never asked"])
    with pytest.raises(AssertionError, match="1 scripted step"):
        leftover.assert_all_used()
    assert issubclass(ScriptExhausted, AssertionError)


async def test_agents_need_a_client_only_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    from coagent.agents import ModelNotConfigured

    for name in ("MODEL_NAME", "MODEL_API_BASE", "MODEL_API_VERSION", "MODEL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    async with LocalRuntime() as rt:
        await rt.register(AgentSpec("bot", new(ChatAgent)))
        with pytest.raises(ModelNotConfigured):
            await rt.ask(Address("bot", "s"), user("hi"), timeout=5)


async def test_streamed_deltas_merge_into_one_message(runtime: LocalRuntime) -> None:
    model = ScriptedModel([Reply("Hello, world!", chunks=["Hello", ",", " world", "!"], reasoning="greet")])
    await runtime.register(AgentSpec("bot", new(StreamChatAgent, client=model)))
    chunks = await collect(runtime.stream(Address("bot", "s"), user("hi")))
    merged = ChatMessage.merge_stream(chunks)
    assert (merged.role, merged.content, merged.reasoning_content) == ("assistant", "Hello, world!", "greet")
    assert merged.usage == chunks[-1].usage and merged.usage is not None
    assert ChatMessage.merge_stream([]) == ChatMessage(role="assistant")
    # an ask (rather than a stream) of a StreamChatAgent gets the merged message
    model.add(Reply("Hi again", chunks=["Hi", " again"]))
    asked = await runtime.ask(Address("bot", "s"), user("once more"))
    assert (asked.content, asked.usage.requests) == ("Hi again", 1)
