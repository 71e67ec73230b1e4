"""What every pattern shares: steps named by agent type or given inline as specs.

A step is either the name of a registered agent type, called in the caller's
session (as in the seed README), or an inline ``AgentSpec`` that the pattern
starts as its own supervised child (``<pattern>.<spec name>``, visible under the
pattern in the tree and restarted per OTP ``one_for_one`` when it crashes).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from coagent.actors import Address, Context, Message, validate_name
from coagent.agents.messages import ChatMessage
from coagent.agents.patterns.messages import StepFailed
from coagent.errors import CoagentError
from coagent.observability.switch import state as _obs
from coagent.supervision import AgentSpec, ChildSpec, Supervisor

__all__ = ["Pattern", "Step", "as_input", "as_chat"]

Step = str | AgentSpec
_NO_SPAN: nullcontext[None] = nullcontext()


class Pattern(Supervisor):
    """Base of the patterns: resolves steps to addresses, supervises inline ones."""

    __slots__ = ("_inline", "step_names")
    #: Its handled messages are GenAI workflow spans (``gen_ai.workflow.name``).
    __otel_operation__ = "workflow"

    def __init__(self, steps: Sequence[Step], *, max_restarts: int = 3, period: float = 5.0) -> None:
        inline: list[ChildSpec] = []
        self.step_names: list[str] = []
        self._inline: set[str] = set()
        for step in steps:
            if isinstance(step, AgentSpec):
                inline.append(ChildSpec(step.name, step.factory, mailbox_size=step.mailbox_size))
                self._inline.add(step.name)
                self.step_names.append(step.name)
            elif isinstance(step, str):
                self.step_names.append(validate_name(step))
            else:
                raise TypeError(f"a step is an agent name or an AgentSpec, got {step!r}")
        super().__init__(children=inline, strategy="one_for_one", max_restarts=max_restarts,
                         period=period)

    def snapshot(self) -> Any:
        """The pattern's own progress between messages, for ``AgentSpec(..., durable=True)``.

        Sequential, parallel and triage patterns keep none (a message's run is one handler:
        after a crash the message runs again); :class:`Handoffs` and :class:`GroupChat` store
        their conversation. Inline steps are child actors whose state stays in memory.
        """
        return {}

    def restore(self, data: Any) -> None:
        """Take back a stored :meth:`snapshot` (nothing to take for a stateless pattern)."""

    def step_address(self, name: str, ctx: Context) -> Address:
        """Where step ``name`` lives in this session."""
        if name in self._inline:
            return ctx.address.child(name)
        return Address(name, ctx.session)

    def path(self, name: str) -> str:
        own = self.address.name if self.address is not None else "pattern"
        return f"{own}/{name}"

    async def ask_step(self, name: str, msg: Any, ctx: Context, timeout: float | None = None) -> Any:
        """Ask step ``name``; its failure becomes ``StepFailed`` naming the step."""
        try:
            with _obs.hooks.step_span(self, name) if _obs.active else _NO_SPAN:
                return await ctx.ask(self.step_address(name, ctx), msg, timeout=timeout)
        except StepFailed:
            raise
        except CoagentError as exc:
            raise _step_failed(name, exc) from None


def _step_failed(name: str, exc: CoagentError) -> StepFailed:
    return StepFailed(f"step {name!r} failed: {exc}", agent=name, cause=exc.code)


def step_failed(name: str, exc: CoagentError) -> StepFailed:
    return _step_failed(name, exc)


def as_chat(reply: Any) -> ChatMessage:
    """A step's reply as a ``ChatMessage`` (other message types as their JSON)."""
    if isinstance(reply, ChatMessage):
        return reply
    if isinstance(reply, Message):
        return ChatMessage(role="assistant", content=reply.encode().content.decode(),
                           type=reply.__message_type__)
    if reply is None:
        return ChatMessage(role="assistant", content="")
    raise TypeError(f"unexpected reply {reply!r}")


def as_input(reply: Any) -> Any:
    """A step's output turned into the next step's input: an assistant's answer becomes
    the next agent's user message; other messages pass unchanged."""
    if isinstance(reply, ChatMessage) and reply.role == "assistant":
        return ChatMessage(role="user", content=reply.content)
    return reply
