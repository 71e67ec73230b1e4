"""``Parallel`` and ``Aggregator``: fan out concurrently, then aggregate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

from coagent.actors import Actor, Context, Message, handler
from coagent.agents.messages import ChatMessage
from coagent.agents.patterns.base import _NO_SPAN, Pattern, Step, as_chat, step_failed
from coagent.agents.patterns.messages import (
    Aggregate,
    AggregationResult,
    ParallelResult,
    StepFailed,
)
from coagent.errors import CoagentError, UnknownMessage
from coagent.observability.switch import state as _obs
from coagent.supervision import AgentSpec

__all__ = ["Parallel", "Aggregator"]


class Parallel(Pattern):
    """Ask every branch at once, then hand all results to an aggregator.

    ::

        parallel = AgentSpec("parallel", new(
            Parallel, "customer", "employee", "investor", "supplier",
            aggregator="aggregator",      # an Aggregator (or any agent taking Aggregate/ChatMessage)
            timeout=30,                   # per branch
            on_failure="partial",         # "fail": any failed branch fails the call
        ))

    With ``on_failure="partial"`` the aggregator gets what succeeded and, in
    :attr:`Aggregate.failed`, what failed; the call fails only if every branch did.
    Without an aggregator the built-in aggregation (one section per branch) is the reply.
    """

    def __init__(self, *branches: Step, aggregator: Step | None = None, timeout: float | None = None,
                 on_failure: Literal["fail", "partial"] = "fail", **options: Any) -> None:
        if not branches:
            raise ValueError("Parallel needs at least one branch")
        if on_failure not in ("fail", "partial"):
            raise ValueError(f"on_failure must be 'fail' or 'partial', got {on_failure!r}")
        steps = list(branches) + ([aggregator] if aggregator is not None else [])
        super().__init__(steps, **options)
        self.branches = self.step_names[: len(branches)]
        self.aggregator = (
            (aggregator.name if isinstance(aggregator, AgentSpec) else aggregator) if aggregator else None
        )
        self.timeout = timeout
        self.on_failure = on_failure

    async def _branch(self, name: str, msg: Any, ctx: Context) -> ParallelResult:
        try:
            with _obs.hooks.step_span(self, name) if _obs.active else _NO_SPAN:
                reply = await ctx.ask(self.step_address(name, ctx), msg, timeout=self.timeout)
        except CoagentError as exc:
            return ParallelResult(agent=name, error=str(exc), error_code=exc.code)
        return ParallelResult(agent=name, message=as_chat(reply))

    async def _gather(self, msg: Message, ctx: Context) -> Aggregate:
        # gather() cancels the branches still running when this handler is cancelled.
        results = list(await asyncio.gather(*(self._branch(n, msg, ctx) for n in self.branches)))
        failed = [r for r in results if not r.ok]
        if failed and (self.on_failure == "fail" or len(failed) == len(results)):
            first = failed[0]
            raise StepFailed(
                f"{len(failed)} of {len(results)} branches failed; {first.agent}: {first.error}",
                agent=first.agent, cause=first.error_code,
            )
        return Aggregate(input=msg if isinstance(msg, ChatMessage) else None, results=results)

    @handler
    async def run(self, msg: Message, ctx: Context) -> Any:
        aggregate = await self._gather(msg, ctx)
        if self.aggregator is None:
            return aggregate_text(aggregate)
        target = self.step_address(self.aggregator, ctx)
        if ctx.streaming:
            return self._stream_aggregation(target, aggregate, ctx)
        try:
            return await ctx.ask(target, aggregate)
        except UnknownMessage:
            # An ordinary chat agent as aggregator: give it the results as text.
            return await self._ask_as_chat(target, aggregate, ctx)
        except CoagentError as exc:
            raise step_failed(self.aggregator, exc) from None

    async def _ask_as_chat(self, target: Any, aggregate: Aggregate, ctx: Context) -> Any:
        try:
            return await ctx.ask(target, _as_prompt(aggregate))
        except CoagentError as exc:
            raise step_failed(str(self.aggregator), exc) from None

    async def _stream_aggregation(self, target: Any, aggregate: Aggregate, ctx: Context) -> AsyncIterator[Any]:
        message: Message = aggregate
        for attempt in range(2):
            started = False
            try:
                async for chunk in ctx.stream(target, message):
                    started = True
                    yield chunk
                return
            except UnknownMessage:
                if started or attempt:
                    raise
                message = _as_prompt(aggregate)
            except CoagentError as exc:
                raise step_failed(str(self.aggregator), exc) from None


def aggregate_text(aggregate: Aggregate) -> ChatMessage:
    """One section per branch: ``"<agent>:\\n<answer>"`` (failed branches say so)."""
    sections = []
    for result in aggregate.results:
        if result.ok and result.message is not None:
            sections.append(f"{result.agent}:\n{result.message.content}")
        else:
            sections.append(f"{result.agent} failed: {result.error}")
    return ChatMessage(role="assistant", content="\n\n".join(sections))


def _as_prompt(aggregate: Aggregate) -> ChatMessage:
    question = aggregate.input.content if aggregate.input is not None else ""
    body = aggregate_text(aggregate).content
    text = f"{question}\n\nThe answers of the agents:\n\n{body}" if question else body
    return ChatMessage(role="user", content=text)


class Aggregator(Actor):
    """The default aggregator: joins the branches' answers, one section per branch.

    Subclass it and override :meth:`aggregate` to combine differently. Its reply is an
    :class:`AggregationResult` (a ``ChatMessage`` that also carries each branch's reply).
    """

    @handler
    async def combine(self, msg: Aggregate, ctx: Context) -> ChatMessage:
        return await self.aggregate(msg)

    async def aggregate(self, msg: Aggregate) -> ChatMessage:
        """The joined text, with every successful branch's reply in ``results``."""
        text = aggregate_text(msg)
        return AggregationResult(
            content=text.content,
            results=[r.message.encode() for r in msg.results if r.ok and r.message is not None],
        )
