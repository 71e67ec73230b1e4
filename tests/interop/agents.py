"""Agents the interop tests serve over A2A and MCP (also loadable by ``coagent gateway --agents``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from coagent import Actor, Context, handler
from coagent.agents import ChatMessage
from coagent.core import AgentSpec, new

#: What the Sleeper saw: "started", then "cancelled" or "finished".
SLEEPER_EVENTS: list[str] = []


class Parrot(Actor):
    """Repeats what it is told, word by word, counting the turns of its session."""

    def __init__(self) -> None:
        self.turns = 0

    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> AsyncIterator[ChatMessage]:
        self.turns += 1
        yield ChatMessage(role="assistant", content=f"turn {self.turns}:")
        for word in msg.content.split():
            yield ChatMessage(role="assistant", content=f" {word}")


class Sleeper(Actor):
    """Sleeps for as many seconds as it is told (for cancellation tests)."""

    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        SLEEPER_EVENTS.append("started")
        try:
            await asyncio.sleep(float(msg.content or "30"))
        except asyncio.CancelledError:
            SLEEPER_EVENTS.append("cancelled")
            raise
        SLEEPER_EVENTS.append("finished")
        return ChatMessage(role="assistant", content="rested")


class Upper(Actor):
    """Answers with the message in capitals."""

    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        return ChatMessage(role="assistant", content=msg.content.upper())


parrot = AgentSpec("parrot", new(Parrot), description="Repeats what it is told.")
sleeper = AgentSpec("sleeper", new(Sleeper), description="Sleeps for the given number of seconds.")
upper = AgentSpec("team.upper", new(Upper), description="Answers in capitals.")
