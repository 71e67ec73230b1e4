"""``Sequential``: each step's output is the next step's input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from coagent.actors import Context, Message, handler
from coagent.agents.patterns.base import Pattern, Step, as_chat, as_input, step_failed
from coagent.agents.patterns.messages import StepEvent
from coagent.errors import CoagentError
from coagent.observability.switch import state as _obs

__all__ = ["Sequential"]


class Sequential(Pattern):
    """Chain agents: ``new(Sequential, "extractor", "converter", "sorter", "formatter")``.

    Every step but the last is asked; the last step's reply goes to the caller
    (streamed when the caller streams, deltas and all). With ``events=True`` a
    streaming caller also gets a :class:`StepEvent` after each intermediate step.
    """

    def __init__(self, *steps: Step, events: bool = False, step_timeout: float | None = None,
                 **options: Any) -> None:
        if not steps:
            raise ValueError("Sequential needs at least one step")
        super().__init__(steps, **options)
        self.events = events
        self.step_timeout = step_timeout

    @handler
    async def run(self, msg: Message, ctx: Context) -> Any:
        if ctx.streaming:
            return self._stream(msg, ctx)
        current: Any = msg
        for name in self.step_names[:-1]:
            current = as_input(await self.ask_step(name, current, ctx, self.step_timeout))
        return await self.ask_step(self.step_names[-1], current, ctx, self.step_timeout)

    async def _stream(self, msg: Message, ctx: Context) -> AsyncIterator[Any]:
        current: Any = msg
        for name in self.step_names[:-1]:
            reply = await self.ask_step(name, current, ctx, self.step_timeout)
            if self.events:
                yield StepEvent(path=self.path(name), message=as_chat(reply))
            current = as_input(reply)
        last = self.step_names[-1]
        chunks: AsyncIterator[Any] = ctx.stream(self.step_address(last, ctx), current,
                                                timeout=self.step_timeout)
        if _obs.active:
            chunks = _obs.hooks.traced_step_stream(self, last, chunks)
        try:
            async for chunk in chunks:
                yield chunk
        except CoagentError as exc:
            raise step_failed(last, exc) from None
