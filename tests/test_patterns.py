"""Orchestration patterns on the in-process runtime, driven by scripted models."""

from __future__ import annotations

import asyncio
import time

import pytest

from coagent import Actor, Address, Context, handler
from coagent.agents import ChatAgent, ChatHistory, ChatMessage, StreamChatAgent
from coagent.agents.patterns import (
    Aggregate,
    Aggregator,
    DynamicTriage,
    GroupChat,
    HandoffAgent,
    Handoffs,
    MaxHandoffsExceeded,
    MaxRounds,
    NoRoute,
    Parallel,
    Sequential,
    StepEvent,
    StepFailed,
    TextMention,
)
from coagent.core import AgentSpec, new
from coagent.errors import DeadlineExceeded
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.pattern_models import echo_model, group_model, handoff_model, triage_model


def chat(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def register(rt: LocalRuntime, *specs: AgentSpec) -> None:
    for spec in specs:
        await rt.register(spec)


async def test_sequential_chains_steps_and_streams_the_last(runtime: LocalRuntime) -> None:
    model = echo_model()
    await register(
        runtime,
        AgentSpec("a", new(ChatAgent, system="A", client=model)),
        AgentSpec("b", new(ChatAgent, system="B", client=model)),
        AgentSpec("c", new(StreamChatAgent, system="C", client=model)),
        AgentSpec("chain", new(Sequential, "a", "b", "c")),
        AgentSpec("chain_events", new(Sequential, "a", "b", "c", events=True)),
    )
    chain = Address("chain", "s1")
    reply = await runtime.ask(chain, chat("x"))
    assert reply.content == "C(B(A(x)))"
    chunks = [c async for c in runtime.stream(Address("chain", "s2"), chat("y"))]
    assert len(chunks) >= 1 and all(isinstance(c, ChatMessage) for c in chunks)
    assert "".join(c.content for c in chunks) == "C(B(A(y)))"
    events = [c async for c in runtime.stream(Address("chain_events", "s3"), chat("z"))]
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [(e.path, e.message.content) for e in steps] == [
        ("chain_events/a", "A(z)"), ("chain_events/b", "B(A(z))"),
    ]
    assert "".join(c.content for c in events if isinstance(c, ChatMessage)) == "C(B(A(z)))"


async def test_concurrent_sessions_never_mix_replies(runtime: LocalRuntime) -> None:
    model = echo_model()
    await register(
        runtime,
        AgentSpec("a", new(ChatAgent, system="A", client=model)),
        AgentSpec("b", new(StreamChatAgent, system="B", client=model)),
        AgentSpec("chain", new(Sequential, "a", "b")),
    )
    inputs = [f"req{i}" for i in range(60)]
    replies = await asyncio.gather(*(runtime.ask(Address("chain", f"s{i}"), chat(t)) for i, t in enumerate(inputs)))
    assert [r.content for r in replies] == [f"B(A({t}))" for t in inputs]

    async def streamed(i: int) -> str:
        return "".join([c.content async for c in runtime.stream(Address("chain", f"t{i}"), chat(f"q{i}"))])

    assert await asyncio.gather(*(streamed(i) for i in range(30))) == [f"B(A(q{i}))" for i in range(30)]


async def test_inline_steps_are_supervised_children(runtime: LocalRuntime) -> None:
    model = echo_model()
    await runtime.register(AgentSpec("pipe", new(
        Sequential,
        AgentSpec("first", new(ChatAgent, system="1", client=model)),
        AgentSpec("second", new(ChatAgent, system="2", client=model)),
    )))
    assert (await runtime.ask(Address("pipe", "s"), chat("x"))).content == "2(1(x))"
    node = (await runtime.tree()).find("pipe", "s")
    assert node is not None and [c.name for c in node.children] == ["pipe.first", "pipe.second"]
    assert (await runtime.ask(Address("pipe.first", "s"), chat("direct"))).content == "1(direct)"


class Crashy(Actor):
    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        raise RuntimeError("branch exploded")


class Slow(Actor):
    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        await asyncio.sleep(30)
        return ChatMessage(role="assistant", content="late")


async def test_parallel_aggregates_and_applies_the_failure_policy(runtime: LocalRuntime) -> None:
    model = echo_model()
    await register(
        runtime,
        AgentSpec("customer", new(ChatAgent, system="customer", client=model)),
        AgentSpec("investor", new(ChatAgent, system="investor", client=model)),
        AgentSpec("crashy", new(Crashy)),
        AgentSpec("slow", new(Slow)),
        AgentSpec("aggregator", new(Aggregator)),
        AgentSpec("summarizer", new(StreamChatAgent, system="sum", client=model)),
        AgentSpec("both", new(Parallel, "customer", "investor", aggregator="aggregator")),
        AgentSpec("strict", new(Parallel, "customer", "crashy", aggregator="aggregator")),
        AgentSpec("partial", new(Parallel, "customer", "crashy", "slow", aggregator="aggregator",
                                 timeout=0.3, on_failure="partial")),
        AgentSpec("llm_agg", new(Parallel, "customer", "investor", aggregator="summarizer")),
        AgentSpec("no_agg", new(Parallel, "customer", "investor")),
    )
    reply = await runtime.ask(Address("both", "s"), chat("plan"))
    assert reply.content == "customer:\ncustomer(plan)\n\ninvestor:\ninvestor(plan)"
    with pytest.raises(StepFailed, match="crashy") as info:
        await runtime.ask(Address("strict", "s"), chat("plan"))
    assert info.value.details["cause"] == "agent_crashed"
    start = time.monotonic()
    reply = await runtime.ask(Address("partial", "s"), chat("plan"))
    assert time.monotonic() - start < 2
    assert "customer(plan)" in reply.content
    assert "crashy failed: RuntimeError: branch exploded" in reply.content
    assert "slow failed:" in reply.content
    # An ordinary (streaming) chat agent as aggregator gets the answers as a prompt.
    chunks = [c async for c in runtime.stream(Address("llm_agg", "s"), chat("plan"))]
    text = "".join(c.content for c in chunks)
    assert text.startswith("sum(plan") and "investor(plan)" in text
    assert (await runtime.ask(Address("no_agg", "s"), chat("q"))).content.startswith("customer:")


async def test_parallel_branches_run_concurrently(runtime: LocalRuntime) -> None:
    slow_model = ScriptedModel(default=lambda r: Reply(f"{r.system}", delay=0.3))
    specs = [AgentSpec(f"w{i}", new(ChatAgent, system=f"w{i}", client=slow_model)) for i in range(5)]
    await register(runtime, *specs, AgentSpec("fan", new(Parallel, *[s.name for s in specs])))
    start = time.monotonic()
    reply = await runtime.ask(Address("fan", "s"), chat("go"))
    assert time.monotonic() - start < 1.0
    assert [line for line in reply.content.splitlines() if line.endswith(":")] == [f"w{i}:" for i in range(5)]


async def test_dynamic_triage_routes_and_discovers_new_agents(runtime: LocalRuntime) -> None:
    model = triage_model()
    await register(
        runtime,
        AgentSpec("team.billing", new(StreamChatAgent, system="Billing Support Response", client=model),
                  description="billing questions"),
        AgentSpec("team.account", new(StreamChatAgent, system="Account Support Response", client=model),
                  description="account security"),
        AgentSpec("triage", new(DynamicTriage, system="You are a triage agent.", client=model, namespace="team")),
    )
    chunks = [c async for c in runtime.stream(Address("triage", "u1"), chat("my invoice is wrong"))]
    assert "".join(c.content for c in chunks) == "Billing Support Response: my invoice is wrong"
    reply = await runtime.ask(Address("triage", "u2"), chat("reset my password"))
    assert reply.content == "Account Support Response: reset my password"
    reply = await runtime.ask(Address("triage", "u3"), chat("my laptop is broken"))
    assert reply.content == "I can only help with billing and accounts."
    # An agent registered later is found at the next request.
    await runtime.register(AgentSpec("team.tech", new(ChatAgent, system="Tech", client=model),
                                     description="hardware"))
    reply = await runtime.ask(Address("triage", "u4"), chat("my laptop is broken"))
    assert reply.content == "Tech: my laptop is broken"
    await runtime.register(AgentSpec("lonely", new(DynamicTriage, client=model, namespace="nobody")))
    with pytest.raises(NoRoute):
        await runtime.ask(Address("lonely", "s"), chat("hello"))


async def test_handoffs_move_the_conversation(runtime: LocalRuntime) -> None:
    model = handoff_model()
    await runtime.register(AgentSpec("support", new(
        Handoffs,
        AgentSpec("front", new(HandoffAgent, system="front", client=model), description="first contact"),
        AgentSpec("refunds", new(HandoffAgent, system="refunds", client=model), description="refunds"),
    )))
    reply = await runtime.ask(Address("support", "s"), chat("I want my money back"))
    assert reply.content == "refunds here, history has 1 messages" and reply.sender == "refunds"
    reply = await runtime.ask(Address("support", "s"), chat("thanks"))
    assert reply.sender == "refunds" and "history has 3 messages" in reply.content  # stays with refunds

    await runtime.register(AgentSpec("loop", new(
        Handoffs,
        AgentSpec("ping", new(HandoffAgent, system="ping", client=model)),
        AgentSpec("pong", new(HandoffAgent, system="pong", client=model)),
        max_handoffs=3,
    )))
    with pytest.raises(MaxHandoffsExceeded):
        await runtime.ask(Address("loop", "s"), chat("go"))


async def test_group_chat_turns_and_termination(runtime: LocalRuntime) -> None:
    model = group_model()
    await register(
        runtime,
        AgentSpec("writer", new(ChatAgent, system="writer", client=model)),
        AgentSpec("critic", new(ChatAgent, system="critic", client=model)),
        AgentSpec("review", new(GroupChat, "writer", "critic", termination=TextMention("APPROVED") | MaxRounds(10))),
        AgentSpec("short", new(GroupChat, "writer", "critic", termination=MaxRounds(3))),
        AgentSpec("picky", new(GroupChat, "writer", "critic", selector=lambda t, names: "critic",
                               termination=MaxRounds(2))),
    )
    turns = [t async for t in runtime.stream(Address("review", "s"), chat("write a poem"))]
    assert [(t.sender, t.content) for t in turns] == [
        ("writer", "draft 1"), ("critic", "critic round 2"), ("writer", "draft 3"), ("critic", "APPROVED"),
    ]
    last = await runtime.ask(Address("short", "s"), chat("go"))
    assert (last.sender, last.content) == ("writer", "draft 3")
    turns = [t async for t in runtime.stream(Address("picky", "s"), chat("go"))]
    assert [t.sender for t in turns] == ["critic", "critic"]


async def test_patterns_nest(runtime: LocalRuntime) -> None:
    model = echo_model()
    await register(
        runtime,
        AgentSpec("a", new(ChatAgent, system="A", client=model)),
        AgentSpec("b", new(ChatAgent, system="B", client=model)),
        AgentSpec("c", new(StreamChatAgent, system="C", client=model)),
        AgentSpec("ab", new(Sequential, "a", "b")),
        AgentSpec("fan", new(Parallel, "ab", "c")),
        AgentSpec("team.fan", new(Sequential, "fan", "c"), description="everything"),
        AgentSpec("triage", new(DynamicTriage, client=ScriptedModel(
            default=Reply(tool_calls=[tool_call("transfer_to_team_fan")])), namespace="team")),
    )
    text = "".join([c.content async for c in runtime.stream(Address("triage", "s"), chat("x"))])
    assert text == "C(ab:\nB(A(x))\n\nc:\nC(x))"


async def test_deadlines_reach_every_child_and_nothing_hangs(runtime: LocalRuntime) -> None:
    await register(
        runtime,
        AgentSpec("slow", new(Slow)),
        AgentSpec("chain", new(Sequential, "slow", "slow")),
        AgentSpec("fan", new(Parallel, "slow", "slow")),
    )
    for name in ("chain", "fan"):
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await runtime.ask(Address(name, "s"), chat("x"), timeout=0.3)
        assert time.monotonic() - start < 1.0
    _ = Aggregate, ChatHistory


async def test_failed_requests_leave_pattern_conversations_unchanged(runtime: LocalRuntime) -> None:
    model = handoff_model()
    await runtime.register(AgentSpec("loop", new(
        Handoffs,
        AgentSpec("ping", new(HandoffAgent, system="ping", client=model)),
        AgentSpec("pong", new(HandoffAgent, system="pong", client=model)),
        max_handoffs=2,
    )))
    with pytest.raises(MaxHandoffsExceeded):
        await runtime.ask(Address("loop", "s"), chat("fail please"))
    pattern = runtime.supervisor("loop").sessions["s"].instance
    assert pattern.history == [] and pattern.current == "ping"  # type: ignore[union-attr]

    await register(
        runtime,
        AgentSpec("team.crashy", new(Crashy), description="always fails"),
        AgentSpec("triage", new(DynamicTriage, client=ScriptedModel(
            default=Reply(tool_calls=[tool_call("transfer_to_team_crashy")])), namespace="team")),
    )
    with pytest.raises(StepFailed):
        await runtime.ask(Address("triage", "t"), chat("boom"))
    with pytest.raises(StepFailed):
        async for _ in runtime.stream(Address("triage", "t"), chat("boom again")):
            pass
    triage = runtime.supervisor("triage").sessions["t"].instance
    assert triage.history == []  # type: ignore[union-attr]
