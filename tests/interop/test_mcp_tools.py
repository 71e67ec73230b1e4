"""LLM agents use the tools of MCP servers built with the ``mcp`` SDK (stdio and Streamable HTTP)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from coagent.agents import ChatAgent, ChatMessage, ReActAgent, StreamChatAgent
from coagent.core import AgentSpec, new
from coagent.interop import MCPServerUnavailable, MCPTools
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.interop.conftest import MCP_SERVER


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def stdio_tools(**options: object) -> MCPTools:
    return MCPTools.stdio(sys.executable, MCP_SERVER, "stdio", **options)  # type: ignore[arg-type]


def local_time(city: str) -> str:
    """The local time in a city."""
    return f"noon in {city}"


async def wait_until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.05)


async def test_a_chat_agent_calls_the_tools_of_a_stdio_server_next_to_its_python_tools(runtime):
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("add", a=2, b=40), tool_call("shout", text="hi"),
                          tool_call("local_time", city="Oslo")]),
        "42, HI and noon",
    ])
    async with stdio_tools() as tools:
        spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[local_time, tools]))
        await runtime.register(spec)
        reply = ChatMessage.decode(await spec.run(user("go").encode(), timeout=60))
    assert reply.content == "42, HI and noon"
    offered = model.requests[0].tool_names
    assert {"add", "shout", "fail", "slow", "local_time"} <= set(offered)
    add_schema = next(t for t in model.requests[0].tools if t["function"]["name"] == "add")
    assert add_schema["function"]["description"] == "Add two integers."
    assert add_schema["function"]["parameters"]["required"] == ["a", "b"]
    results = [m["content"] for m in model.requests[1].tool_results]
    assert results == ["42", "HI", "noon in Oslo"]


async def test_a_streamable_http_server_gets_the_configured_headers_and_prefixed_names(runtime, mcp_http_url):
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("calc_header", key="X-Team"), tool_call("calc_add", a=1, b=2)]),
        "done",
    ])
    tools = MCPTools.http(mcp_http_url, headers={"X-Team": "billing"}, prefix="calc")
    try:
        spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
        await runtime.register(spec)
        await spec.run(user("go").encode(), timeout=60)
    finally:
        await tools.aclose()
    assert "calc_shout" in model.requests[0].tool_names and "shout" not in model.requests[0].tool_names
    assert [m["content"] for m in model.requests[1].tool_results] == ["billing", "3"]


async def test_a_tool_that_raises_and_bad_arguments_go_back_to_the_model_as_tool_errors(runtime):
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("fail", reason="no budget"), tool_call("add", a="two", b=1)]),
        "sorry",
    ])
    async with stdio_tools() as tools:
        spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
        await runtime.register(spec)
        reply = ChatMessage.decode(await spec.run(user("go").encode(), timeout=60))
    assert reply.content == "sorry"
    failed, invalid = (m["content"] for m in model.requests[1].tool_results)
    assert failed.startswith("Error: MCPToolError:") and "refused: no budget" in failed
    assert invalid.startswith("Error: invalid arguments for add:") and "'two' is not of type 'integer'" in invalid


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # a listen event, or a 2025-style notification
async def test_the_tool_list_is_fetched_again_after_the_server_says_it_changed(runtime, mode):
    model = ScriptedModel([Reply(tool_calls=[tool_call("grow")]), "grown", "ok"])
    async with stdio_tools(mode=mode) as tools:
        spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
        await runtime.register(spec)
        await spec.run(user("grow").encode(), timeout=60)
        conn = tools._conn
        assert conn is not None
        # the change event may arrive before the turn's second model call, or just after
        await wait_until(lambda: conn.stale or "extra" in [t.name for t in conn.tools or ()])
        await spec.run(user("again").encode(), timeout=60)
    assert "extra" not in model.requests[0].tool_names
    assert "extra" in model.requests[2].tool_names


async def test_the_tool_list_is_fetched_once_per_connection(runtime):
    model = ScriptedModel(default="ok")
    async with stdio_tools() as tools:
        spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
        await runtime.register(spec)
        for session in ("a", "b", "c"):
            await spec.run(user("x").encode(), session_id=session, timeout=60)
        conn = tools._conn
        listed = [t.name for t in await tools.list_tools()]
        assert conn is tools._conn and conn is not None and conn.tools is not None
    assert all(r.tool_names == model.requests[0].tool_names for r in model.requests)
    assert model.requests[0].tool_names == listed


async def test_a_cancelled_turn_cancels_the_mcp_call_in_flight(runtime, tmp_path: Path):
    marks = tmp_path / "marks"
    model = ScriptedModel([Reply(tool_calls=[tool_call("slow", seconds=60)]), "never"])
    async with stdio_tools(env={"MCP_TEST_MARKS": str(marks)}) as tools:
        spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
        await runtime.register(spec)
        turn = asyncio.create_task(spec.run(user("wait").encode(), timeout=120))
        await wait_until(lambda: marks.exists() and "started" in marks.read_text())
        turn.cancel()
        with pytest.raises(asyncio.CancelledError):
            await turn
        await wait_until(lambda: "cancelled" in marks.read_text(), timeout=10)
    assert len(model.requests) == 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_killed_server_gives_a_typed_error_and_the_next_turn_reconnects(runtime, mode):
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("pid")]), "first",
        Reply(tool_calls=[tool_call("slow", seconds=60)]), "second",
        Reply(tool_calls=[tool_call("pid")]), "third",
    ])
    async with stdio_tools(mode=mode) as tools:
        spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
        await runtime.register(spec)
        await spec.run(user("who").encode(), timeout=60)
        first_pid = int(model.requests[1].tool_results[0]["content"])
        second = asyncio.create_task(spec.run(user("wait").encode(), timeout=60))
        await wait_until(lambda: len(model.requests) >= 3)
        await asyncio.sleep(0.5)  # the call is on its way to the server
        os.kill(first_pid, signal.SIGKILL)
        await asyncio.wait_for(second, 30)
        died = model.requests[3].tool_results[0]["content"]
        assert died.startswith("Error: MCPServerUnavailable:"), died
        await spec.run(user("who now").encode(), timeout=60)
        second_pid = int(model.requests[5].tool_results[0]["content"])
    assert second_pid != first_pid


async def test_a_server_that_cannot_start_fails_the_turn_with_a_typed_error(runtime):
    model = ScriptedModel(default="never")
    tools = MCPTools.stdio(sys.executable, "-c", "import sys; sys.exit(3)", connect_timeout=30)
    spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
    await runtime.register(spec)
    with pytest.raises(MCPServerUnavailable) as caught:
        await spec.run(user("go").encode(), timeout=60)
    assert caught.value.server.startswith(sys.executable) and caught.value.code == "mcp_unavailable"
    assert model.requests == []


@pytest.mark.parametrize("agent", [StreamChatAgent, ReActAgent])
async def test_streaming_and_react_agents_use_mcp_tools_too(runtime, agent):
    model = ScriptedModel([Reply(tool_calls=[tool_call("add", a=1, b=1)]), Reply("two", chunks=["tw", "o"])])
    async with stdio_tools() as tools:
        spec = AgentSpec("assistant", new(agent, client=model, tools=[tools]))
        await runtime.register(spec)
        chunks = [c async for c in spec.run_stream(user("1+1").encode(), timeout=60)]
    assert chunks
    assert model.requests[1].tool_results[0]["content"] == "2"


async def test_a_handoff_agent_uses_mcp_tools_and_hands_over(runtime):
    from coagent.agents import HandoffAgent, Handoffs

    model = ScriptedModel([
        Reply(tool_calls=[tool_call("shout", text="refund")]),
        Reply(tool_calls=[tool_call("transfer_to_refunds")]),
        "refunds here",
    ])
    async with stdio_tools() as tools:
        desk = AgentSpec("desk", new(Handoffs,
                                     AgentSpec("front", new(HandoffAgent, system="front", client=model,
                                                            tools=[tools])),
                                     AgentSpec("refunds", new(HandoffAgent, system="refunds", client=model))))
        await runtime.register(desk)
        reply = ChatMessage.decode(await desk.run(user("money back").encode(), timeout=60))
    assert reply.content == "refunds here"
    assert "shout" in model.requests[0].tool_names and "transfer_to_refunds" in model.requests[0].tool_names
    assert model.requests[1].tool_results[0]["content"] == "REFUND"
    assert "shout" not in model.requests[2].tool_names


async def test_a_streamable_http_server_that_restarts_is_reconnected_on_the_next_call() -> None:
    import subprocess

    from coagent.testing import free_port
    from tests.interop.conftest import wait_for_port

    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, MCP_SERVER, "http", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, proc)
        return proc

    server = await asyncio.to_thread(start)
    tools = MCPTools.http(f"http://127.0.0.1:{port}/mcp", call_timeout=30)
    try:
        assert await tools.call("add", {"a": 1, "b": 2}) == "3"
        server.kill()
        server.wait()
        with pytest.raises(MCPServerUnavailable):
            await tools.call("add", {"a": 1, "b": 2})
        server = await asyncio.to_thread(start)
        assert await tools.call("add", {"a": 2, "b": 2}) == "4"
    finally:
        await tools.aclose()
        server.kill()
        server.wait()


async def test_a_cancelled_turn_cancels_the_call_on_a_streamable_http_server_too(runtime, tmp_path: Path):
    import subprocess

    from coagent.testing import free_port
    from tests.interop.conftest import wait_for_port

    marks = tmp_path / "marks"
    port = free_port()
    server = subprocess.Popen([sys.executable, MCP_SERVER, "http", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MCP_TEST_MARKS": str(marks), "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        await asyncio.to_thread(wait_for_port, port, server)
        model = ScriptedModel([Reply(tool_calls=[tool_call("slow", seconds=60)]), "never"])
        async with MCPTools.http(f"http://127.0.0.1:{port}/mcp") as tools:
            spec = AgentSpec("assistant", new(ChatAgent, client=model, tools=[tools]))
            await runtime.register(spec)
            turn = asyncio.create_task(spec.run(user("wait").encode(), timeout=120))
            await wait_until(lambda: marks.exists() and "started" in marks.read_text())
            turn.cancel()
            with pytest.raises(asyncio.CancelledError):
                await turn
            await wait_until(lambda: "cancelled" in marks.read_text(), timeout=10)
            # the connection outlives the cancelled call: the next call answers on it
            assert await tools.call("add", {"a": 20, "b": 22}) == "42"
    finally:
        server.kill()
        server.wait()
    assert len(model.requests) == 1
