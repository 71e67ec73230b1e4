"""Spans of one process: a tool-using ChatAgent turn, patterns, crashes, and tracing off."""

from __future__ import annotations

import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from coagent import Actor, Address, Context, Message, handler
from coagent.agents import ChatAgent, ChatMessage, Sequential, StreamChatAgent
from coagent.core import AgentSpec, new
from coagent.observability import state
from coagent.runtimes import LocalRuntime
from coagent.testing import FakeOpenAIServer, Reply, ScriptedModel, tool_call
from tests.observability.conftest import Spans


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first term
        b: the second term
    """
    return a + b


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def test_a_tool_using_chat_agent_turn_is_one_invoke_agent_span_with_chat_and_tool_children(
    spans: Spans,
) -> None:
    async with FakeOpenAIServer([
        Reply(tool_calls=[tool_call("add", a=2, b=3, id="c1")]),
        "It is 5.",
    ]) as server, LocalRuntime() as runtime:
        await runtime.register(AgentSpec("bot", new(ChatAgent, client=server.client(), tools=[add])))
        reply = await runtime.ask(Address("bot", "s1"), user("2+3?"))
    assert reply.content == "It is 5."

    agent = spans.one("invoke_agent bot")
    assert agent.attributes is not None
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "bot"
    assert agent.attributes["gen_ai.conversation.id"] == "s1"
    assert agent.attributes["gen_ai.request.model"] == "openai/gpt-4o-mini"
    assert agent.attributes["gen_ai.provider.name"] == "openai"
    assert agent.attributes["coagent.actor.type"] == "ChatAgent"
    assert agent.attributes["coagent.message.type"] == "ChatMessage"
    assert agent.attributes["coagent.outcome"] == "ok"
    assert agent.parent is None

    chats = spans.named("chat ")
    assert [s.name for s in chats] == ["chat openai/gpt-4o-mini"] * 2
    for chat in chats:
        assert chat.kind == SpanKind.CLIENT
        assert spans.parent_of(chat) is agent
        attrs = chat.attributes or {}
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "openai"
        assert attrs["gen_ai.request.model"] == "openai/gpt-4o-mini"
        assert attrs["gen_ai.usage.input_tokens"] > 0
        assert attrs["gen_ai.usage.output_tokens"] > 0
        assert chat.context.trace_id == agent.context.trace_id
    assert chats[0].attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)  # type: ignore[index]
    assert chats[1].attributes["gen_ai.response.finish_reasons"] == ("stop",)  # type: ignore[index]

    tool = spans.one("execute_tool add")
    assert spans.parent_of(tool) is agent
    assert tool.attributes == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add",
        "gen_ai.tool.call.id": "c1", "gen_ai.tool.type": "function",
    }  # no arguments or results: contents are opt-in
    # The tool ran between the two model calls.
    assert chats[0].end_time <= tool.start_time <= tool.end_time <= chats[1].start_time  # type: ignore[operator]
    assert not any("gen_ai.input.messages" in (s.attributes or {}) for s in spans.all)


async def test_message_contents_are_recorded_only_when_the_user_opts_in(content_spans: Spans) -> None:
    async with FakeOpenAIServer([
        Reply(tool_calls=[tool_call("add", a=2, b=3, id="c1")]),
        "It is 5.",
    ]) as server, LocalRuntime() as runtime:
        await runtime.register(AgentSpec("bot", new(ChatAgent, client=server.client(), tools=[add])))
        await runtime.ask(Address("bot", "s1"), user("2+3?"))
    first_chat = content_spans.named("chat ")[0].attributes or {}
    sent = json.loads(str(first_chat["gen_ai.input.messages"]))
    assert sent[-1] == {"role": "user", "content": "2+3?"}
    answered = json.loads(str(content_spans.named("chat ")[1].attributes["gen_ai.output.messages"]))  # type: ignore[index]
    assert answered == [{"role": "assistant", "content": "It is 5."}]
    tool = content_spans.one("execute_tool add").attributes or {}
    assert json.loads(str(tool["gen_ai.tool.call.arguments"])) == {"a": 2, "b": 3}
    assert tool["gen_ai.tool.call.result"] == "5"
    agent = content_spans.one("invoke_agent bot").attributes or {}
    assert json.loads(str(agent["coagent.message.content"]))["content"] == "2+3?"


async def test_a_streamed_answer_is_one_chat_span_ended_with_its_usage(spans: Spans) -> None:
    async with FakeOpenAIServer([Reply("Bonjour", chunks=["Bon", "jour"])]) as server, \
            LocalRuntime() as runtime:
        await runtime.register(AgentSpec("bot", new(StreamChatAgent, client=server.client())))
        chunks = [c.content async for c in runtime.stream(Address("bot", "s"), user("hi"))]
    assert "".join(chunks) == "Bonjour"
    chat = spans.one("chat ")
    assert chat.attributes["gen_ai.request.stream"] is True  # type: ignore[index]
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("stop",)  # type: ignore[index]
    assert spans.parent_of(chat) is spans.one("invoke_agent bot")


async def test_a_sequential_has_a_span_per_step_parenting_each_steps_handling(spans: Spans) -> None:
    async with LocalRuntime() as runtime:
        for name, text in (("first", "one"), ("second", "two")):
            await runtime.register(AgentSpec(name, new(ChatAgent, client=ScriptedModel(default=text))))
        await runtime.register(AgentSpec("chain", new(Sequential, "first", "second")))
        reply = await runtime.ask(Address("chain", "s"), user("go"))
    assert reply.content == "two"
    chain = spans.one("handle chain")
    assert chain.attributes["gen_ai.workflow.name"] == "chain"  # type: ignore[index]
    steps = spans.named("step chain/")
    assert [s.name for s in steps] == ["step chain/first", "step chain/second"]
    for step, agent in zip(steps, ("first", "second"), strict=True):
        assert spans.parent_of(step) is chain
        assert step.attributes["coagent.pattern.step"] == agent  # type: ignore[index]
        assert spans.parent_of(spans.one(f"invoke_agent {agent}")) is step
    assert len({s.context.trace_id for s in spans.all}) == 1


async def test_a_streamed_sequential_has_a_span_for_its_streamed_last_step_too(spans: Spans) -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("first", new(ChatAgent, client=ScriptedModel(default="one"))))
        await runtime.register(AgentSpec("second", new(StreamChatAgent,
                                                       client=ScriptedModel(default="two three"))))
        await runtime.register(AgentSpec("chain", new(Sequential, "first", "second")))
        chunks = [c.content async for c in runtime.stream(Address("chain", "s"), user("go"))]
    assert "".join(chunks) == "two three"
    chain = spans.one("handle chain")
    last = spans.one("step chain/second")
    assert spans.parent_of(last) is chain
    assert spans.parent_of(spans.one("invoke_agent second")) is last
    assert last.end_time >= spans.one("invoke_agent second").end_time  # type: ignore[operator]


class Boom(Message):
    __message_type__ = "SpansBoom"  # tests.durable has a Boom of its own


class Fine(Message):
    pass


class Fragile(Actor):
    @handler
    async def boom(self, msg: Boom, ctx: Context) -> Fine:
        raise RuntimeError("kaput")

    @handler
    async def fine(self, msg: Fine, ctx: Context) -> Fine:
        return Fine()


async def test_a_crash_and_the_restart_are_events_on_the_failed_messages_span(spans: Spans) -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("fragile", new(Fragile)))
        with pytest.raises(Exception, match="kaput"):
            await runtime.ask(Address("fragile", "s"), Boom())
        assert isinstance(await runtime.ask(Address("fragile", "s"), Fine()), Fine)
    failed, ok = spans.named("handle fragile")
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["coagent.outcome"] == "error"  # type: ignore[index]
    assert failed.attributes["error.type"] == "RuntimeError"  # type: ignore[index]
    names = [e.name for e in failed.events]
    assert names == ["exception", "coagent.actor.crashed", "coagent.actor.restarted"]
    crashed = failed.events[1].attributes or {}
    assert crashed["exception.type"] == "RuntimeError" and crashed["exception.message"] == "kaput"
    assert failed.events[2].attributes["coagent.actor.restarts"] == 1  # type: ignore[index]
    assert ok.attributes["coagent.outcome"] == "ok"  # type: ignore[index]
    assert ok.status.status_code == StatusCode.UNSET


async def test_with_tracing_off_no_span_object_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every span Coagent makes comes from its tracer; with tracing off nothing reaches one."""
    from opentelemetry.sdk.trace import Tracer

    made: list[str] = []
    original = Tracer.start_span

    def counting(self: Tracer, name: str, *args: object, **kwargs: object) -> object:
        made.append(name)
        return original(self, name, *args, **kwargs)  # type: ignore[arg-type]

    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the hot path used hooks.{name} with tracing off")

    monkeypatch.setattr(Tracer, "start_span", counting)
    monkeypatch.setattr(state, "hooks", Untouchable())
    assert not state.active and not state.tracing
    async with FakeOpenAIServer([Reply(tool_calls=[tool_call("add", a=1, b=1)]), "2"]) as server, \
            LocalRuntime() as runtime:
        await runtime.register(AgentSpec("bot", new(ChatAgent, client=server.client(), tools=[add])))
        await runtime.register(AgentSpec("chain", new(Sequential, "bot")))
        assert (await runtime.ask(Address("chain", "s"), user("1+1"))).content == "2"
    assert made == []


def test_without_tracing_running_agents_never_imports_opentelemetry() -> None:
    import subprocess
    import sys

    code = """
import asyncio, sys
from coagent import Address
from coagent.agents import ChatAgent, ChatMessage, Sequential
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import ScriptedModel

async def main():
    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("bot", new(ChatAgent, client=ScriptedModel(default="hi"))))
        await runtime.register(AgentSpec("chain", new(Sequential, "bot")))
        reply = await runtime.ask(Address("chain", "s"), ChatMessage(role="user", content="x"))
        assert reply.content == "hi"

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry", "coagent.observability"))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['coagent.observability', 'coagent.observability.switch']"
