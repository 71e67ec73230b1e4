"""The public test kit's pytest fixtures."""

from __future__ import annotations

import asyncio
import json
import socket

from coagent import Address
from coagent.agents import ChatAgent, ChatMessage, ModelClient
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import FakeOpenAIServer, NATSServer, Reply, ScriptedModel
from tests.agents.helpers import warm_litellm

warm_litellm()


async def test_scripted_model_fixture(scripted_model: ScriptedModel, runtime: LocalRuntime) -> None:
    scripted_model.add("one", Reply("two"))
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=scripted_model)))
    replies = [(await runtime.ask(Address("bot", "s"), ChatMessage(role="user", content=q))).content
               for q in ("a", "b")]
    assert replies == ["one", "two"]
    scripted_model.assert_all_used()


def test_fake_openai_server_fixture_serves_sync_and_async_callers(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.add("from the fixture", "again")
    env = fake_openai_server.env()
    assert env["MODEL_API_BASE"] == fake_openai_server.base_url
    assert env["MODEL_API_BASE"].startswith("http://127.0.0.1:") and env["MODEL_API_BASE"].endswith("/v1")
    client = ModelClient(model=env["MODEL_NAME"], api_base=env["MODEL_API_BASE"], api_key=env["MODEL_API_KEY"],
                         num_retries=0)

    async def ask() -> str:
        return (await client.complete([{"role": "user", "content": "hi"}])).content

    assert asyncio.run(ask()) == "from the fixture"
    assert asyncio.run(fake_openai_server.client().complete([{"role": "user", "content": "x"}])).content == "again"
    fake_openai_server.assert_all_used()


def test_every_fake_server_has_its_own_port() -> None:
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        assert a.port != b.port


def test_nats_server_fixture_is_a_live_server(nats_server: NATSServer) -> None:
    port = int(nats_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        line = sock.makefile("rb").readline()
    assert line.startswith(b"INFO ")
    info = json.loads(line[5:])
    assert info["port"] == port and info.get("jetstream") is True
