"""``Handoffs`` (Swarm-style): agents pass the conversation to each other through tools."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from coagent.actors import Actor, Context, handler
from coagent.agents.messages import ChatHistory, ChatMessage
from coagent.agents.model import ModelClient
from coagent.agents.patterns.base import Pattern, Step
from coagent.agents.patterns.messages import (
    AgentRef,
    Handoff,
    HandoffTurn,
    MaxHandoffsExceeded,
    PatternError,
)
from coagent.agents.patterns.triage import transfer_tool_name
from coagent.agents.settings import UNSET, setting
from coagent.agents.tools import (
    Tool,
    ToolSource,
    collect_tools,
    run_tool_calls,
    tool_sources,
    with_source_tools,
)
from coagent.supervision import AgentSpec

__all__ = ["Handoffs", "HandoffAgent"]


class HandoffAgent(Actor):
    """An LLM agent that can answer, use its tools, or hand the conversation to another agent.

    ``Handoffs`` asks it for a turn with a :class:`HandoffTurn`; the model sees one
    ``transfer_to_<agent>`` tool per agent it may hand over to. Calling one ends the turn
    with a :class:`Handoff`; answering in text ends it with a ``ChatMessage``.
    """

    # Settings, set per instance by ``setting()`` (see coagent.agents.settings).
    system: str
    max_turns: int

    def __init__(self, system: str = UNSET, client: Any = UNSET,
                 tools: Sequence[Callable[..., Any] | Tool | ToolSource] = UNSET, *,
                 max_turns: int = UNSET) -> None:
        # Each setting: the argument, else a subclass's class attribute, else the default.
        setting(self, "system", system, "", base=HandoffAgent)
        client = setting(self, "client", client, None, base=HandoffAgent)
        tools = setting(self, "tools", tools, (), base=HandoffAgent)
        setting(self, "max_turns", max_turns, 10, base=HandoffAgent)
        self.client = client if client is not None else ModelClient()
        self.tools = collect_tools(self, tools)
        self.tool_sources = tool_sources(tools)

    @handler
    async def turn(self, msg: HandoffTurn, ctx: Context) -> ChatMessage | Handoff:
        transfers = {transfer_tool_name(t.name): t for t in msg.targets}
        tools = await with_source_tools(self.tools, self.tool_sources, ctx)
        schemas = [t.schema() for t in tools.values()] + [
            {"type": "function", "function": {
                "name": name, "description": target.description or f"Hand the conversation to {target.name}.",
                "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
            }}
            for name, target in transfers.items()
        ]
        messages: list[Any] = ([{"role": "system", "content": self.system}] if self.system else [])
        messages += [m.to_model() for m in msg.history]
        for _ in range(self.max_turns):
            response = await self.client.complete(messages, tools=schemas or None, timeout=ctx.remaining())
            handoff = next((c for c in response.tool_calls if c.name in transfers), None)
            if handoff is not None:
                try:
                    reason = str(json.loads(handoff.arguments or "{}").get("reason", ""))
                except (ValueError, AttributeError):
                    reason = ""
                return Handoff(to=transfers[handoff.name].name, reason=reason)
            if not response.tool_calls:
                return ChatMessage(role="assistant", content=response.content, sender=ctx.address.name)
            messages.append(response.to_message())
            for result in await run_tool_calls(response.tool_calls, tools, ctx=ctx):
                messages.append(result.to_message())
        raise PatternError(f"{ctx.address.name} used {self.max_turns} model turns without answering")


class Handoffs(Pattern):
    """A conversation that moves between agents; the current one answers the user.

    ::

        support = AgentSpec("support", new(
            Handoffs,
            AgentSpec("triage", new(HandoffAgent, system="Route the user.", client=client),
                      description="first contact"),
            AgentSpec("refunds", new(HandoffAgent, system="Handle refunds.", client=client),
                      description="refunds and returns"),
            max_handoffs=5,
        ))

    Agents are inline specs (children of the pattern) or names of registered agent types
    that handle :class:`HandoffTurn`. The first agent starts; after a handoff the new agent
    keeps the conversation until it hands it on. More than ``max_handoffs`` handoffs for
    one message raise :class:`MaxHandoffsExceeded`.
    """

    def __init__(self, *agents: Step, start: str | None = None, max_handoffs: int = 10,
                 **options: Any) -> None:
        if not agents:
            raise ValueError("Handoffs needs at least one agent")
        super().__init__(list(agents), **options)
        self.descriptions = {a.name: a.description for a in agents if isinstance(a, AgentSpec)}
        self.current = start or self.step_names[0]
        if self.current not in self.step_names:
            raise ValueError(f"start agent {start!r} is not one of {self.step_names}")
        self.max_handoffs = max_handoffs
        #: This session's conversation (replies carry the answering agent in ``sender``).
        self.history: list[ChatMessage] = []

    def snapshot(self) -> Any:
        return {"current": self.current, "history": self.history}

    def restore(self, data: Any) -> None:
        current = data.get("current", self.current)
        if current in self.step_names:
            self.current = current
        self.history = msgspec.convert(data.get("history", []), list[ChatMessage])

    @handler
    async def chat(self, msg: ChatMessage | ChatHistory, ctx: Context) -> ChatMessage:
        history, current = list(self.history), self.current
        try:
            return await self._chat(msg, ctx)
        except BaseException:
            # A failed (or cancelled) message leaves the conversation as it was.
            self.history, self.current = history, current
            raise

    async def _chat(self, msg: ChatMessage | ChatHistory, ctx: Context) -> ChatMessage:
        if isinstance(msg, ChatHistory):
            self.history = list(msg.messages)
        else:
            self.history.append(msg)
        handoffs = 0
        while True:
            targets = [AgentRef(n, self.descriptions.get(n, "")) for n in self.step_names if n != self.current]
            reply = await self.ask_step(self.current, HandoffTurn(history=list(self.history), targets=targets), ctx)
            if isinstance(reply, Handoff):
                if reply.to not in self.step_names:
                    raise PatternError(f"{self.current} handed over to unknown agent {reply.to!r}")
                handoffs += 1
                if handoffs > self.max_handoffs:
                    raise MaxHandoffsExceeded(
                        f"more than {self.max_handoffs} handoffs for one message (last: {self.current} -> {reply.to})"
                    )
                self.current = reply.to
                continue
            if not isinstance(reply, ChatMessage):
                raise PatternError(f"{self.current} answered a HandoffTurn with {type(reply).__name__}")
            reply = msgspec.structs.replace(reply, sender=self.current)
            self.history.append(reply)
            return reply
