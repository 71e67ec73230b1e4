"""Messages and errors of the orchestration patterns."""

from __future__ import annotations

import msgspec

from coagent.actors import Message, RawMessage
from coagent.agents.messages import ChatMessage
from coagent.errors import CoagentError

__all__ = [
    "ParallelResult", "Aggregate", "AggregationResult", "StepEvent", "Handoff", "HandoffTurn", "AgentRef",
    "PatternError", "StepFailed", "MaxHandoffsExceeded", "NoRoute",
]


class ParallelResult(msgspec.Struct, omit_defaults=True):
    """What one branch of a ``Parallel`` produced: a message, or the error it failed with."""

    agent: str
    message: ChatMessage | None = None
    error: str = ""
    error_code: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class Aggregate(Message):
    """Sent by ``Parallel`` to its aggregator: every branch's result, in branch order."""

    input: ChatMessage | None = None
    results: list[ParallelResult] = []

    @property
    def succeeded(self) -> list[ParallelResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[ParallelResult]:
        return [r for r in self.results if not r.ok]


class AggregationResult(ChatMessage, omit_defaults=False):
    """What the default ``Aggregator`` replies: the joined text (``content``, one section per
    branch) and, as the original Coagent's ``AggregationResult``, each branch's reply in
    branch order as a ``RawMessage``::

        result = AggregationResult.decode(await parallel.run(ChatMessage(...).encode()))
        for raw in result.results:
            print(ChatMessage.decode(raw).content)

    It is a ``ChatMessage``, so code that reads the reply as one keeps working (it encodes
    every field, so ``ChatMessage.decode`` finds ``role`` in it).
    """

    role: str = "assistant"
    results: list[RawMessage] = []


class StepEvent(Message):
    """A pattern's progress, streamed when the pattern is built with ``events=True``.

    ``path`` names the agent that produced ``message``, from the pattern down
    (``"chain/extractor"``); ``kind`` is ``"output"`` for a finished step.
    """

    path: str
    kind: str = "output"
    message: ChatMessage | None = None


class AgentRef(msgspec.Struct):
    """An agent a conversation can be handed to."""

    name: str
    description: str = ""


class HandoffTurn(Message):
    """``Handoffs`` asks the current agent for its turn: the conversation so far and who it may
    hand over to. The agent answers with a ``ChatMessage`` or a :class:`Handoff`."""

    history: list[ChatMessage] = []
    targets: list[AgentRef] = []


class Handoff(Message):
    """An agent's answer that hands the conversation to another agent."""

    to: str
    reason: str = ""
    history: list[ChatMessage] = []


class PatternError(CoagentError):
    """A pattern could not complete its run."""

    code = "pattern_error"


class StepFailed(PatternError):
    """A step (or a branch) of a pattern failed; ``agent`` names it, ``cause`` its error code."""

    code = "step_failed"
    wire_fields = {"agent": str, "cause": str}


class MaxHandoffsExceeded(PatternError):
    """The agents handed the conversation over more than ``max_handoffs`` times."""

    code = "max_handoffs_exceeded"


class NoRoute(PatternError):
    """Triage found no agent to route to (none registered, or the model chose none)."""

    code = "no_route"
