"""Durable patterns keep their own progress: a group chat's transcript survives a restart."""

from __future__ import annotations

from pathlib import Path

from coagent.actors.address import Address
from coagent.agents import (
    ChatAgent,
    ChatMessage,
    GroupChat,
    HandoffAgent,
    Handoffs,
    MaxRounds,
    Sequential,
)
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import ScriptedModel


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def test_a_durable_group_chat_goes_on_with_its_transcript_after_a_restart(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "s.db")
    model = ScriptedModel(default=lambda req: f"seen {len(req.messages)}")
    steps = [AgentSpec(n, new(ChatAgent, client=model)) for n in ("a", "b")]
    room = AgentSpec("room", new(GroupChat, "a", "b", termination=MaxRounds(2)), durable=True)
    for _ in range(2):  # a second runtime on the same store, as after a restart
        async with LocalRuntime(store=db) as rt:
            for spec in (*steps, room):
                await rt.register(spec)
            await rt.ask(Address("room", "r1"), user("hello"), timeout=10)
    # The second run's first speaker saw the first run's whole transcript: two user
    # messages and two replies before its own turn.
    assert len(model.requests[2].messages) == 4
    [info] = [i for i in await _sessions(db) if i.type == "room"]
    assert info.applied_count == 2


async def _sessions(db: str) -> list:  # type: ignore[type-arg]
    from coagent.store.sqlite import SQLiteStore

    async with SQLiteStore(db) as store:
        return await store.sessions()


async def test_stateless_and_handoff_patterns_can_be_durable(tmp_path: Path) -> None:
    model = ScriptedModel(default=lambda req: "ok")
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(AgentSpec("a", new(ChatAgent, client=model)))
        await rt.register(AgentSpec("seq", new(Sequential, "a"), durable=True))
        await rt.register(AgentSpec("h", new(HandoffAgent, client=model)))
        await rt.register(AgentSpec("desk", new(Handoffs, "h"), durable=True))
        assert (await rt.ask(Address("seq", "s"), user("x"), timeout=10)).content == "ok"
        assert await rt.passivate(Address("seq", "s"))
        assert (await rt.ask(Address("seq", "s"), user("y"), timeout=10)).content == "ok"
        await rt.ask(Address("desk", "s"), user("hi"), timeout=10)
        assert await rt.passivate(Address("desk", "s"))
        await rt.ask(Address("desk", "s"), user("again"), timeout=10)
        record = await rt.durable.store.load("desk", "s")  # type: ignore[union-attr]
        assert record is not None
        assert b'"again"' in record.state and b'"hi"' in record.state
