"""``A2AAgent`` calls an agent served by the ``a2a-sdk``'s own server, alone and inside patterns."""

from __future__ import annotations

import asyncio

import pytest

from coagent.agents import ChatMessage, Parallel, Sequential
from coagent.core import AgentSpec, new
from coagent.interop import A2AAgent, RemoteAgentError, RemoteAgentUnavailable
from coagent.testing import free_port
from tests.interop.a2a_server import serve_reviewer
from tests.interop.agents import Upper, upper


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def test_a_remote_a2a_agent_is_a_step_of_a_sequential(runtime):
    async with serve_reviewer() as (url, reviewer):
        await runtime.register(upper)
        remote = AgentSpec("reviewer", new(A2AAgent, url, headers={"X-Team": "docs"}))
        pipeline = AgentSpec("pipeline", new(Sequential, "team.upper", remote))
        await runtime.register(pipeline)
        first = ChatMessage.decode(await pipeline.run(user("draft").encode(), session_id="s1", timeout=30))
        second = ChatMessage.decode(await pipeline.run(user("again").encode(), session_id="s1", timeout=30))
        other = ChatMessage.decode(await pipeline.run(user("new").encode(), session_id="s2", timeout=30))
    assert first.content == "reviewed (turn 1): DRAFT"
    # one session is one A2A context: the remote agent counts the session's turns
    assert second.content == "reviewed (turn 2): AGAIN"
    assert other.content == "reviewed (turn 1): NEW"
    assert all(h.get("x-team") == "docs" for h in reviewer.headers)


async def test_a_remote_a2a_agent_is_a_branch_of_a_parallel(runtime):
    async with serve_reviewer() as (url, _):
        remote = AgentSpec("reviewer", new(A2AAgent, url, streaming=False))
        fan = AgentSpec("fan", new(Parallel, remote, AgentSpec("shout", new(Upper))))
        await runtime.register(fan)
        reply = ChatMessage.decode(await fan.run(user("text").encode(), timeout=30))
    assert "reviewed (turn 1): text" in reply.content and "TEXT" in reply.content


async def test_a_failed_remote_task_raises_a_typed_error(runtime):
    async with serve_reviewer() as (url, _):
        remote = AgentSpec("reviewer", new(A2AAgent, url))
        await runtime.register(remote)
        with pytest.raises(RemoteAgentError) as caught:
            await remote.run(user("please fail").encode(), timeout=30)
    assert "cannot review that" in str(caught.value) and caught.value.url == url


async def test_a_caller_that_gives_up_cancels_the_remote_task(runtime):
    async with serve_reviewer() as (url, reviewer):
        remote = AgentSpec("reviewer", new(A2AAgent, url))
        await runtime.register(remote)
        with pytest.raises(Exception) as caught:
            await remote.run(user("slow").encode(), timeout=1.5)
        for _ in range(100):
            if reviewer.cancelled:
                break
            await asyncio.sleep(0.05)
    assert type(caught.value).__name__ in ("DeadlineExceeded", "RemoteAgentError")
    assert len(reviewer.cancelled) == 1


async def test_an_unreachable_remote_agent_raises_a_typed_error(runtime):
    remote = AgentSpec("reviewer", new(A2AAgent, f"http://127.0.0.1:{free_port()}"))
    await runtime.register(remote)
    with pytest.raises(RemoteAgentUnavailable):
        await remote.run(user("hi").encode(), timeout=30)


async def test_a_remote_a2a_agent_is_a_triage_target(runtime):
    from coagent.agents import DynamicTriage
    from coagent.testing import Reply, ScriptedModel, tool_call

    model = ScriptedModel([Reply(tool_calls=[tool_call("transfer_to_reviewer")])])
    async with serve_reviewer() as (url, _):
        remote = AgentSpec("reviewer", new(A2AAgent, url), description="Reviews texts.")
        triage = AgentSpec("triage", new(DynamicTriage, system="Route it.", client=model, agents=[remote]))
        await runtime.register(triage)
        reply = ChatMessage.decode(await triage.run(user("my essay").encode(), timeout=30))
    assert reply.content == "reviewed (turn 1): my essay"
    assert model.requests[0].tool_names == ["transfer_to_reviewer"]


async def test_a_streaming_caller_gets_the_remote_chunks_as_they_come(runtime):
    from coagent.gateway import Gateway
    from coagent.runtimes import LocalRuntime
    from tests.interop.agents import parrot

    async with LocalRuntime() as remote_side:
        await remote_side.register(parrot)
        gateway = Gateway(remote_side)
        url = await gateway.start("127.0.0.1", 0)
        try:
            remote = AgentSpec("parrot", new(A2AAgent, f"{url}/a2a/parrot"))
            await runtime.register(remote)
            chunks = [ChatMessage.decode(c).content
                      async for c in remote.run_stream(user("a b").encode(), session_id="s", timeout=30)]
            whole = ChatMessage.decode(await remote.run(user("c").encode(), session_id="s", timeout=30))
        finally:
            await gateway.stop()
    assert chunks == ["turn 1:", " a", " b"]
    assert whole.content == "turn 2: c"  # the same session, so the same remote context
