"""The ``mcp`` SDK's client lists and calls the agent types that ``coagent mcp serve`` exposes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from coagent.testing import free_port
from tests.interop.conftest import wait_for_port

AGENTS = str(Path(__file__).parent / "agents.py")
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONDONTWRITEBYTECODE": "1"}


def serve_command(*options: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "coagent", "mcp", "serve", "--agents", AGENTS, *options],
                                 env=ENV)


async def test_the_mcp_client_lists_and_calls_the_agents_over_stdio() -> None:
    async with Client(serve_command(), cache=None) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        first = await client.call_tool("parrot", {"message": "hello you"})
        session = first.structured_content["session"]
        second = await client.call_tool("parrot", {"message": "again", "session": session})
        unknown = await client.call_tool("nobody", {"message": "hi"})
        bad = await client.call_tool("parrot", {"message": "hi", "session": "not a session"})
    assert set(tools) == {"parrot", "sleeper", "team.upper"}
    assert tools["parrot"].description == "Repeats what it is told."
    assert tools["parrot"].input_schema["required"] == ["message"]
    assert first.content[0].text == "turn 1: hello you" and not first.is_error
    # the session continues the conversation with the same session actor
    assert second.structured_content == {"reply": "turn 2: again", "session": session}
    assert unknown.is_error and unknown.content[0].text.startswith("agent_not_found")
    assert bad.is_error


async def test_a_namespace_offers_its_agents_under_their_short_names() -> None:
    async with Client(serve_command("--namespace", "team"), cache=None) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        reply = await client.call_tool("upper", {"message": "quiet"})
    assert tools == ["upper"]
    assert reply.content[0].text == "QUIET"


@pytest.fixture
def http_server() -> object:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "coagent", "mcp", "serve", "--agents", AGENTS, "--transport", "http",
         "--listen", f"127.0.0.1:{port}", "--auth", "mcp-token"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **ENV},
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_the_mcp_client_calls_the_agents_over_streamable_http_with_a_token(http_server) -> None:
    url, proc = http_server
    async with (httpx2.AsyncClient(headers={"Authorization": "Bearer mcp-token"}) as http,
                Client(streamable_http_client(url, http_client=http), cache=None) as client):
        tools = [t.name for t in (await client.list_tools()).tools]
        reply = await client.call_tool("team.upper", {"message": "over http"})
    assert sorted(tools) == ["parrot", "sleeper", "team.upper"]
    assert reply.content[0].text == "OVER HTTP"
    async with httpx2.AsyncClient() as plain:
        refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    proc.terminate()
    assert proc.wait(15) == 0


async def test_with_a_nats_server_the_tools_are_the_agents_of_the_cluster(nats_server) -> None:
    from coagent.runtimes import NATSRuntime
    from tests.interop.agents import parrot, upper

    node = NATSRuntime.from_servers(nats_server.url, name="mcp-node", prefix="mcpt")
    async with node:
        await node.register(parrot)
        await node.register(upper)
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "coagent", "mcp", "serve", "--server", nats_server.url, "--prefix", "mcpt",
                  "--namespace", "team"],
            env=ENV)
        async with Client(params, cache=None) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            reply = await client.call_tool("upper", {"message": "from the cluster"})
    assert tools == ["upper"]
    assert reply.content[0].text == "FROM THE CLUSTER"


async def test_a_cancelled_mcp_call_cancels_the_agent_handler(runtime) -> None:
    import asyncio

    from coagent.interop.mcp_serve import agents_server
    from tests.interop.agents import SLEEPER_EVENTS, sleeper

    SLEEPER_EVENTS.clear()
    await runtime.register(sleeper)
    async with Client(agents_server(runtime), cache=None) as client:  # the SDK's in-process client
        call = asyncio.create_task(client.call_tool("sleeper", {"message": "60"}))
        for _ in range(200):
            if SLEEPER_EVENTS:
                break
            await asyncio.sleep(0.02)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        for _ in range(200):
            if "cancelled" in SLEEPER_EVENTS:
                break
            await asyncio.sleep(0.02)
    assert SLEEPER_EVENTS == ["started", "cancelled"]


async def test_with_a_gateway_url_the_tools_are_the_agents_behind_the_gateway() -> None:
    from coagent.gateway import Gateway, Tokens
    from coagent.runtimes import LocalRuntime
    from tests.interop.agents import parrot, upper

    async with LocalRuntime() as hub:
        await hub.register(parrot)
        await hub.register(upper)
        gateway = Gateway(hub, tokens=Tokens(["gw-token"]))
        url = await gateway.start("127.0.0.1", 0)
        try:
            # this process also serves its own agent through the gateway (an HTTPRuntime)
            params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "coagent", "mcp", "serve", "--server", url, "--server-auth", "gw-token",
                      "--agents", f"{AGENTS}:sleeper"],
                env=ENV)
            async with Client(params, cache=None) as client:
                tools = sorted(t.name for t in (await client.list_tools()).tools)
                first = await client.call_tool("parrot", {"message": "via the gateway"})
                session = first.structured_content["session"]
                second = await client.call_tool("parrot", {"message": "again", "session": session})
                loud = await client.call_tool("team.upper", {"message": "hub"})
                # the sleeper, served by the command's own process, is an agent of the hub too
                served_there = {name for name, _ in await hub.discover()}
        finally:
            await gateway.stop()
    assert tools == ["parrot", "sleeper", "team.upper"]
    assert first.content[0].text == "turn 1: via the gateway"
    assert second.structured_content == {"reply": "turn 2: again", "session": session}
    assert loud.content[0].text == "HUB"
    assert "sleeper" in served_there


def test_a_refused_gateway_token_stops_the_command_with_a_clear_error() -> None:
    import asyncio

    from coagent.gateway import Gateway, Tokens
    from coagent.runtimes import LocalRuntime

    async def run() -> subprocess.CompletedProcess[str]:
        async with LocalRuntime() as hub:
            gateway = Gateway(hub, tokens=Tokens(["gw-token"]))
            url = await gateway.start("127.0.0.1", 0)
            try:
                return await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "coagent", "mcp", "serve", "--server", url, "--server-auth", "wrong"],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                    env={**os.environ, **ENV})
            finally:
                await gateway.stop()

    done = asyncio.run(run())
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "Error: the token is not accepted by this gateway"
