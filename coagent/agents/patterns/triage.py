"""``DynamicTriage``: route each request to one agent of a namespace, chosen by the model."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from coagent.actors import Address, Context, handler
from coagent.agents.messages import ChatHistory, ChatMessage
from coagent.agents.patterns.base import _NO_SPAN, Pattern, Step, step_failed
from coagent.agents.patterns.messages import NoRoute
from coagent.agents.settings import UNSET, setting
from coagent.errors import CoagentError
from coagent.observability.switch import state as _obs
from coagent.supervision import AgentSpec

__all__ = ["DynamicTriage", "transfer_tool_name"]


def transfer_tool_name(agent: str) -> str:
    """``team.billing`` -> ``transfer_to_team_billing`` (tool names allow ``[A-Za-z0-9_-]``)."""
    return "transfer_to_" + re.sub(r"[^A-Za-z0-9_-]", "_", agent)


class DynamicTriage(Pattern):
    """Send each request to the agent of ``namespace`` the model picks, and stream its reply back.

    ::

        triage = AgentSpec("triage", new(
            DynamicTriage,
            system="You are a triage agent who will delegate to sub-agents ...",
            client=client,
            namespace="team",      # every agent type named team.*, on any node, found at each request
        ))

    The model sees one ``transfer_to_<agent>`` tool per candidate (described by the agent's
    description) and must call one. If it answers in text instead, that text is the reply.
    The chosen agent gets the conversation so far (a ``ChatHistory``) in the same session.

    Settings (``system``, ``client``, ``namespace``, ``agents``, ``max_history``, ``inclusive``)
    come from the arguments, else from a subclass's class attributes, else the defaults;
    ``inclusive=True`` also offers the agent named exactly ``namespace``.
    """

    # Settings, set per instance by ``setting()`` (see coagent.agents.settings).
    system: str
    namespace: str
    max_history: int
    inclusive: bool

    def __init__(self, system: str = UNSET, client: Any = UNSET, namespace: str = UNSET, *,
                 agents: Sequence[Step] = UNSET, max_history: int = UNSET,
                 inclusive: bool = UNSET, **options: Any) -> None:
        # Each setting: the argument, else a subclass's class attribute, else the default, so
        # ``class Router(DynamicTriage): system = "..."`` (and ``Router.namespace = x``
        # before the runtime starts) configure every session.
        agents = setting(self, "agents", agents, (), base=DynamicTriage)
        super().__init__(list(agents), **options)
        from coagent.agents.model import ModelClient

        setting(self, "system", system, "", base=DynamicTriage)
        client = setting(self, "client", client, None, base=DynamicTriage)
        setting(self, "namespace", namespace, "", base=DynamicTriage)
        setting(self, "max_history", max_history, 50, base=DynamicTriage)
        setting(self, "inclusive", inclusive, False, base=DynamicTriage)
        self.client = client if client is not None else ModelClient()
        self._inline_descriptions = {
            a.name: a.description for a in agents if isinstance(a, AgentSpec)
        }
        #: This session's conversation with the user (what the chosen agents see).
        self.history: list[ChatMessage] = []

    async def candidates(self, ctx: Context) -> dict[str, tuple[str, Address]]:
        """``tool name -> (agent name, address)`` of the agents requests may go to."""
        found: dict[str, tuple[str, Address]] = {}
        if self.namespace or not self._inline:
            listed = await ctx.discover(self.namespace)
            if self.inclusive and self.namespace:
                # The original's ``inclusive``: the agent named exactly like the namespace too.
                listed += [(n, d) for n, d in await ctx.discover() if n == self.namespace]
            for name, description in listed:
                if name == ctx.address.name:
                    continue
                found[transfer_tool_name(name)] = (description, Address(name, ctx.session))
        for name in self.step_names:
            found[transfer_tool_name(name)] = (self._inline_descriptions.get(name, ""), self.step_address(name, ctx))
        return found

    @handler
    async def route(self, msg: ChatMessage | ChatHistory, ctx: Context) -> Any:
        history = list(self.history)
        try:
            return await self._route(msg, ctx)
        except BaseException:
            self.history = history  # a failed request leaves the conversation as it was
            raise

    async def _route(self, msg: ChatMessage | ChatHistory, ctx: Context) -> Any:
        if isinstance(msg, ChatHistory):
            self.history = list(msg.messages)
        else:
            self.history.append(msg)
        del self.history[: -self.max_history]
        options = await self.candidates(ctx)
        if not options:
            raise NoRoute(f"no agents under namespace {self.namespace!r} to route to")
        tools = [
            {"type": "function", "function": {
                "name": tool_name,
                "description": description or f"Hand the request to {address.name}.",
                "parameters": {"type": "object", "properties": {}},
            }}
            for tool_name, (description, address) in options.items()
        ]
        messages: list[Any] = ([{"role": "system", "content": self.system}] if self.system else [])
        messages += [m.to_model() for m in self.history]
        response = await self.client.complete(messages, tools=tools, timeout=ctx.remaining())
        chosen = next((c for c in response.tool_calls if c.name in options), None)
        if chosen is None:
            if response.content:
                reply = ChatMessage(role="assistant", content=response.content, sender=ctx.address.name)
                self.history.append(reply)
                return reply
            raise NoRoute("the model picked no agent", tools=", ".join(options))
        address = options[chosen.name][1]
        request = ChatHistory(messages=list(self.history))
        if ctx.streaming:
            return self._stream(address, request, ctx)
        try:
            with _obs.hooks.step_span(self, address.name) if _obs.active else _NO_SPAN:
                reply = await ctx.ask(address, request)
        except CoagentError as exc:
            raise step_failed(address.name, exc) from None
        if isinstance(reply, ChatMessage):
            self.history.append(ChatMessage(role="assistant", content=reply.content))
        return reply

    async def _stream(self, address: Address, request: ChatHistory, ctx: Context) -> AsyncIterator[Any]:
        parts: list[str] = []
        completed = False
        chunks: AsyncIterator[Any] = ctx.stream(address, request)
        if _obs.active:
            chunks = _obs.hooks.traced_step_stream(self, address.name, chunks)
        try:
            async for chunk in chunks:
                if isinstance(chunk, ChatMessage):
                    parts.append(chunk.content)
                yield chunk
            completed = True
        except CoagentError as exc:
            raise step_failed(address.name, exc) from None
        finally:
            if completed:
                self.history.append(ChatMessage(role="assistant", content="".join(parts)))
            else:
                del self.history[-1:]  # the request that failed or was abandoned
