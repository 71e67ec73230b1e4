"""The ``a2a-sdk`` client against ``coagent gateway``: cards, send, stream, get and cancel a task."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import A2AClientError, ClientConfig, create_client
from a2a.helpers import get_artifact_text, get_message_text
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import TaskNotFoundError

from coagent.gateway import Gateway, Tokens
from coagent.runtimes import LocalRuntime
from coagent.testing import free_port
from tests.interop.agents import SLEEPER_EVENTS, parrot, sleeper, upper
from tests.interop.conftest import wait_for_port

TOKEN = "a2a-test-token"


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    SLEEPER_EVENTS.clear()
    async with LocalRuntime(default_timeout=10.0) as runtime:
        for spec in (parrot, sleeper, upper):
            await runtime.register(spec)
        gw = Gateway(runtime, tokens=Tokens([TOKEN]))
        await gw.start("127.0.0.1", 0)
        try:
            yield gw
        finally:
            await gw.stop()


def http(token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(headers=headers, timeout=30)


def message(text: str, context_id: str = "", **metadata: Any) -> pb.SendMessageRequest:
    msg = pb.Message(role=pb.Role.ROLE_USER, message_id=uuid.uuid4().hex, context_id=context_id,
                     parts=[pb.Part(text=text)])
    request = pb.SendMessageRequest(message=msg)
    for key, value in metadata.items():
        request.message.metadata[key] = value
    return request


async def test_the_cards_describe_each_agent_type_and_declare_bearer_auth(gateway: Gateway) -> None:
    async with http(token=None) as client:  # cards need no token
        root = (await client.get(f"{gateway.url}/.well-known/agent-card.json")).json()
        card = (await client.get(f"{gateway.url}/a2a/parrot/.well-known/agent-card.json")).json()
        missing = await client.get(f"{gateway.url}/a2a/nobody/.well-known/agent-card.json")
    assert {s["id"] for s in root["skills"]} == {"parrot", "sleeper", "team.upper"}
    assert card["name"] == "parrot" and card["description"] == "Repeats what it is told."
    assert card["supportedInterfaces"][0] == {
        "url": f"{gateway.url}/a2a/parrot", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    assert card["capabilities"]["streaming"] is True
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "bearer"
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    assert missing.status_code == 404 and missing.json()["code"] == "agent_not_found"


async def test_the_sdk_client_sends_a_message_and_gets_the_reply_in_one_context(gateway: Gateway) -> None:
    async with http() as transport:
        client = await create_client(f"{gateway.url}/a2a/parrot",
                                     ClientConfig(httpx_client=transport, streaming=False))
        first = [r async for r in client.send_message(message("hello there"))]
        task = first[-1].task
        assert task.status.state == pb.TaskState.TASK_STATE_COMPLETED
        assert get_message_text(task.status.message) == "turn 1: hello there"
        assert get_artifact_text(task.artifacts[0], delimiter="") == "turn 1: hello there"
        again = [r async for r in client.send_message(message("more", context_id=task.context_id))]
        got = await client.get_task(pb.GetTaskRequest(id=task.id))
        await client.close()
    # the same A2A context is the same session: the parrot counts its second turn
    assert get_message_text(again[-1].task.status.message) == "turn 2: more"
    assert got.status.state == pb.TaskState.TASK_STATE_COMPLETED and got.context_id == task.context_id


async def test_the_sdk_client_streams_a_reply_as_artifact_updates(gateway: Gateway) -> None:
    async with http() as transport:
        client = await create_client(f"{gateway.url}/a2a/parrot",
                                     ClientConfig(httpx_client=transport, streaming=True))
        events = [r async for r in client.send_message(message("one two three"))]
        await client.close()
    chunks = [get_artifact_text(e.artifact_update.artifact) for e in events if e.HasField("artifact_update")]
    assert "".join(chunks) == "turn 1: one two three" and len([c for c in chunks if c]) == 4
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[-1] == pb.TaskState.TASK_STATE_COMPLETED


async def test_the_sdk_client_cancels_a_task_and_the_agent_handler_is_cancelled(gateway: Gateway) -> None:
    async with http() as transport:
        client = await create_client(f"{gateway.url}/a2a/sleeper",
                                     ClientConfig(httpx_client=transport, streaming=True))
        stream = client.send_message(message("60"))
        task_id = ""
        async for event in stream:
            task_id = task_id or event.task.id or event.status_update.task_id
            if SLEEPER_EVENTS:
                break
            await asyncio.sleep(0)
        for _ in range(200):
            if SLEEPER_EVENTS:
                break
            await asyncio.sleep(0.05)
        await stream.aclose()
        canceled = await client.cancel_task(pb.CancelTaskRequest(id=task_id))
        got = await client.get_task(pb.GetTaskRequest(id=task_id))
        await client.close()
    assert canceled.status.state == pb.TaskState.TASK_STATE_CANCELED
    assert got.status.state == pb.TaskState.TASK_STATE_CANCELED
    for _ in range(100):
        if "cancelled" in SLEEPER_EVENTS:
            break
        await asyncio.sleep(0.05)
    assert SLEEPER_EVENTS == ["started", "cancelled"]


async def test_the_gateway_endpoint_routes_by_skill_and_json_rpc_needs_the_token(gateway: Gateway) -> None:
    async with http() as transport:
        client = await create_client(f"{gateway.url}/a2a", ClientConfig(httpx_client=transport,
                                                                         streaming=False))
        reply = [r async for r in client.send_message(message("loud", skill="team.upper"))]
        unnamed = [r async for r in client.send_message(message("which?"))]
        await client.close()
    assert get_message_text(reply[-1].task.status.message) == "LOUD"
    assert unnamed[-1].task.status.state == pb.TaskState.TASK_STATE_REJECTED
    assert "metadata.skill" in get_message_text(unnamed[-1].task.status.message)
    async with http(token="wrong") as transport:
        client = await create_client(f"{gateway.url}/a2a/parrot", ClientConfig(httpx_client=transport))
        with pytest.raises(A2AClientError):
            _ = [r async for r in client.send_message(message("hi"))]
        await client.close()


async def test_each_token_has_its_own_tasks_and_contexts() -> None:
    async with LocalRuntime(default_timeout=10.0) as runtime:
        await runtime.register(parrot)
        gw = Gateway(runtime, tokens=Tokens(["alice-token", "bob-token"]))
        await gw.start("127.0.0.1", 0)
        try:
            async with http("alice-token") as a, http("bob-token") as b:
                alice = await create_client(f"{gw.url}/a2a/parrot", ClientConfig(httpx_client=a, streaming=False))
                bob = await create_client(f"{gw.url}/a2a/parrot", ClientConfig(httpx_client=b, streaming=False))
                mine = [r async for r in alice.send_message(message("hi", context_id="shared"))][-1].task
                theirs = [r async for r in bob.send_message(message("hi", context_id="shared"))][-1].task
                with pytest.raises(TaskNotFoundError):
                    await bob.get_task(pb.GetTaskRequest(id=mine.id))
                assert (await alice.get_task(pb.GetTaskRequest(id=mine.id))).id == mine.id
                await alice.close()
                await bob.close()
        finally:
            await gw.stop()
    # the same context id under two tokens is two conversations: each parrot counts one turn
    assert get_message_text(mine.status.message) == "turn 1: hi"
    assert get_message_text(theirs.status.message) == "turn 1: hi"


async def test_the_coagent_gateway_command_serves_a2a() -> None:
    port = free_port()
    agents = str(Path(__file__).with_name("agents.py"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "coagent", "gateway", "--agents", agents, "--listen", f"127.0.0.1:{port}",
         "--auth", TOKEN],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        await asyncio.to_thread(wait_for_port, port, proc)
        async with http() as transport:
            client = await create_client(f"http://127.0.0.1:{port}/a2a/team.upper",
                                         ClientConfig(httpx_client=transport, streaming=True))
            events = [r async for r in client.send_message(message("from the command"))]
            await client.close()
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
    texts = [get_artifact_text(e.artifact_update.artifact) for e in events if e.HasField("artifact_update")]
    assert texts == ["FROM THE COMMAND"]


async def test_the_coagent_gateway_command_bridging_a_nats_cluster_serves_its_agents_over_a2a(
        nats_server) -> None:
    from coagent.runtimes import NATSRuntime

    SLEEPER_EVENTS.clear()
    port = free_port()
    node = NATSRuntime.from_servers(nats_server.url, name="a2a-cluster-node", prefix="a2an")
    async with node:
        for spec in (parrot, sleeper):
            await node.register(spec)
        proc = subprocess.Popen(
            [sys.executable, "-m", "coagent", "gateway", "--server", nats_server.url, "--prefix", "a2an",
             "--listen", f"127.0.0.1:{port}", "--auth", TOKEN],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONDONTWRITEBYTECODE": "1"},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(wait_for_port, port, proc)
            async with http() as transport:
                skills: set[str] = set()
                for _ in range(100):  # the gateway finds the node's agents once it has announced
                    card = (await transport.get(f"{base}/.well-known/agent-card.json")).json()
                    skills = {s["id"] for s in card["skills"]}
                    if skills == {"parrot", "sleeper"}:
                        break
                    await asyncio.sleep(0.1)
                parrot_client = await create_client(f"{base}/a2a/parrot",
                                                    ClientConfig(httpx_client=transport, streaming=True))
                events = [r async for r in parrot_client.send_message(message("over nats"))]
                context_id = next(e.task.context_id for e in events if e.HasField("task"))
                again = [r async for r in parrot_client.send_message(message("more", context_id=context_id))]
                await parrot_client.close()

                sleeper_client = await create_client(f"{base}/a2a/sleeper",
                                                     ClientConfig(httpx_client=transport, streaming=False))
                sending = asyncio.create_task(_drain(sleeper_client.send_message(message("60"))))
                for _ in range(200):  # the handler runs on the NATS node, in this process
                    if SLEEPER_EVENTS:
                        break
                    await asyncio.sleep(0.05)
                listed = await sleeper_client.list_tasks(pb.ListTasksRequest())
                task_id = listed.tasks[0].id
                canceled = await sleeper_client.cancel_task(pb.CancelTaskRequest(id=task_id))
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError, A2AClientError):
                    await sending
                await sleeper_client.close()
                for _ in range(100):
                    if "cancelled" in SLEEPER_EVENTS:
                        break
                    await asyncio.sleep(0.05)
        finally:
            proc.terminate()
            assert proc.wait(15) == 0
    assert skills == {"parrot", "sleeper"}
    chunks = [get_artifact_text(e.artifact_update.artifact) for e in events if e.HasField("artifact_update")]
    assert "".join(chunks) == "turn 1: over nats"
    texts = [get_artifact_text(e.artifact_update.artifact) for e in again if e.HasField("artifact_update")]
    assert "".join(texts) == "turn 2: more"  # one A2A context, one session on the NATS node
    assert canceled.status.state == pb.TaskState.TASK_STATE_CANCELED
    assert SLEEPER_EVENTS == ["started", "cancelled"]


async def _drain(events: AsyncIterator[Any]) -> list[Any]:
    return [e async for e in events]


async def test_an_agent_served_through_the_gateway_by_an_http_runtime_is_an_a2a_agent_too() -> None:
    from coagent.runtimes.http import HTTPRuntime

    async with LocalRuntime(default_timeout=10.0) as hub:
        gw = Gateway(hub, tokens=Tokens([TOKEN]))
        url = await gw.start("127.0.0.1", 0)
        try:
            async with HTTPRuntime.from_server(url, TOKEN, name="a2a-http-node") as remote:
                await remote.register(parrot)
                async with http() as transport:
                    card = (await transport.get(f"{url}/a2a/parrot/.well-known/agent-card.json")).json()
                    client = await create_client(f"{url}/a2a/parrot",
                                                 ClientConfig(httpx_client=transport, streaming=True))
                    events = [r async for r in client.send_message(message("served elsewhere"))]
                    await client.close()
        finally:
            await gw.stop()
    assert card["description"] == "Repeats what it is told."
    chunks = [get_artifact_text(e.artifact_update.artifact) for e in events if e.HasField("artifact_update")]
    assert "".join(chunks) == "turn 1: served elsewhere"
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[-1] == pb.TaskState.TASK_STATE_COMPLETED
