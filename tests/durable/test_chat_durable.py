"""LLM agents keep their conversation in the store, with no user code."""

from __future__ import annotations

from pathlib import Path

from coagent.actors.address import Address
from coagent.agents import ChatAgent, ChatMessage, ReActAgent, StreamChatAgent
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import ScriptedModel
from tests.agents.helpers import collect


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def echo_model() -> ScriptedModel:
    return ScriptedModel(default=lambda req: f"echo {req.last_message['content']}")


async def test_a_chat_agent_remembers_the_conversation_across_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    model = echo_model()
    spec = AgentSpec("bot", new(ChatAgent, system="S", client=model), durable=True)
    async with LocalRuntime(store=db) as rt:
        await rt.register(spec)
        await rt.ask(Address("bot", "s1"), user("one"), timeout=5)
        await rt.ask(Address("bot", "s1"), user("two"), timeout=5)
    async with LocalRuntime(store=db) as rt:
        await rt.register(spec)
        reply = await rt.ask(Address("bot", "s1"), user("three"), timeout=5)
        assert reply.content == "echo three"
    assert [m["content"] for m in model.requests[-1].messages] == [
        "S", "one", "echo one", "two", "echo two", "three",
    ]
    assert model.requests[-1].messages[2]["role"] == "assistant"


async def test_stream_and_react_agents_restore_their_history_after_passivation(
    tmp_path: Path,
) -> None:
    for cls in (StreamChatAgent, ReActAgent):
        model = echo_model()
        async with LocalRuntime(store=str(tmp_path / f"{cls.__name__}.db")) as rt:
            await rt.register(AgentSpec("bot", new(cls, system="S", client=model), durable=True))
            address = Address("bot", "s1")
            await collect(rt.stream(address, user("one")))
            assert await rt.passivate(address)
            await collect(rt.stream(address, user("two")))
        contents = [m["content"] for m in model.requests[-1].messages]
        assert contents[-3:] == ["one", "echo one", "two"], cls
