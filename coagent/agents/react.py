"""``ReActAgent``: reason, act, observe, until an answer, streaming every step.

::

    agent = AgentSpec("researcher", new(ReActAgent, system="...", client=client,
                                        tools=[search, fetch], max_turns=8))

    async for raw in agent.run_stream(ChatMessage(role="user", content="...").encode()):
        match raw.type:
            case "ThoughtStep":    print("thinks:", ThoughtStep.decode(raw).content)
            case "ToolCallStep":   step = ToolCallStep.decode(raw); print("calls", step.name, step.arguments)
            case "ToolResultStep": print("sees:", ToolResultStep.decode(raw).content)
            case "FinalAnswer":    print("answer:", FinalAnswer.decode(raw).content)

The loop ends with a :class:`FinalAnswer`, or, after ``max_turns`` model calls, with
:class:`~coagent.agents.errors.MaxTurnsExceeded` raised to the caller after the steps
already streamed. A tool that fails produces a ``ToolResultStep`` with ``is_error``
and the model carries on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

from coagent import Context, handler
from coagent.agents.chat import ChatAgent, ToolActions, ToolResults, TurnFinished
from coagent.agents.messages import (
    ChatHistory,
    ChatMessage,
    FinalAnswer,
    ThoughtStep,
    ToolCallStep,
    ToolResultStep,
)
from coagent.agents.model import ChatModel
from coagent.agents.settings import UNSET, setting
from coagent.agents.tools import Tool, ToolSource

__all__ = ["ReActAgent", "REACT_PROMPT"]

REACT_PROMPT = """\
Solve the task step by step. In each step, first think: say briefly what you know and \
what you need next. Then act: call one or more tools to get it. Read the tool results \
and repeat. When you can answer, reply with the final answer and call no tool."""

Step = ThoughtStep | ToolCallStep | ToolResultStep | FinalAnswer


class ReActAgent(ChatAgent):
    """A tool-using agent that streams its reasoning steps (see the module docs).

    Takes the arguments of :class:`~coagent.agents.ChatAgent`; ``system`` is added
    after the ReAct instructions (pass ``react_prompt=""`` to use only your own).
    """

    def __init__(
        self,
        system: str = UNSET,
        client: ChatModel | None = UNSET,
        tools: Sequence[Callable[..., Any] | Tool | ToolSource] = UNSET,
        *,
        react_prompt: str = UNSET,
        **kwargs: Any,
    ) -> None:
        # A subclass's class attributes are settings too (see coagent.agents.settings).
        system = setting(self, "system", system, "", base=ReActAgent)
        react_prompt = setting(self, "react_prompt", react_prompt, REACT_PROMPT, base=ReActAgent)
        prompt = "\n\n".join(p for p in (react_prompt, system) if p)
        super().__init__(system=prompt, client=client, tools=tools, **kwargs)

    @handler
    async def chat(self, msg: ChatMessage | ChatHistory, ctx: Context) -> AsyncIterator[Step]:
        """Stream the steps that answer a task (appended) or a conversation (adopted)."""
        undo = self.begin_turn(msg)
        async with contextlib.aclosing(self._steps(ctx, undo)) as steps:
            async for step in steps:
                yield step

    async def _steps(self, ctx: Context, undo: Callable[[], None]) -> AsyncGenerator[Step, None]:
        committed = False
        try:
            async with contextlib.aclosing(self.run_turn(ctx)) as events:
                async for event in events:
                    if isinstance(event, ToolActions):
                        response, turn = event.response, event.turn
                        if response.reasoning:
                            yield ThoughtStep(content=response.reasoning, turn=turn)
                        if response.content:
                            yield ThoughtStep(content=response.content, turn=turn)
                        for call in response.tool_calls:
                            yield ToolCallStep(id=call.id, name=call.name,
                                               arguments=call.arguments, turn=turn)
                    elif isinstance(event, ToolResults):
                        for result in event.results:
                            yield ToolResultStep(id=result.call.id, name=result.call.name,
                                                 content=result.content, is_error=result.is_error,
                                                 turn=event.turn)
                    elif isinstance(event, TurnFinished):
                        response, text, usage, turn = (
                            event.response, event.text, event.usage, event.turn
                        )
                        committed = True
                        self._trim()
                        if response.reasoning:
                            yield ThoughtStep(content=response.reasoning, turn=turn)
                        yield FinalAnswer(content=text, usage=usage)
        finally:
            if not committed:
                undo()
