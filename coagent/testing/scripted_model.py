"""``ScriptedModel``: a model client that answers from a script, in process, without HTTP.

::

    from coagent.testing import ScriptedModel, Reply, tool_call

    model = ScriptedModel([
        Reply(tool_calls=[tool_call("get_weather", city="Paris")]),
        "It is sunny in Paris.",
    ])
    agent = AgentSpec("assistant", new(ChatAgent, client=model, tools=[get_weather]))
    ...
    assert model.requests[1].tool_results[0]["content"] == "sunny"
    model.assert_all_used()

It has the methods agents call on a :class:`~coagent.agents.ModelClient`
(``complete`` and ``stream``), so it can be the ``client`` of any agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from coagent.agents.errors import ModelTimeout, error_for_status
from coagent.agents.messages import Usage
from coagent.agents.model import ModelResponse, ModelStream, as_model_messages
from coagent.testing.script import (
    ErrorReply,
    ModelRequest,
    Reply,
    Script,
    Step,
    resolve,
)

__all__ = ["ScriptedModel"]


class ScriptedModel:
    """A scripted stand-in for :class:`~coagent.agents.ModelClient`.

    Args:
        steps: the answers, in order (see :mod:`coagent.testing.script`).
        default: the step for requests past the script (``None``: fail with
            ``ScriptExhausted``), e.g. ``default="ok"`` for load tests.
        model: the model name it reports.
        record: keep every request in ``requests`` (turn off for benchmarks).

    A ``Reply`` whose ``delay`` exceeds the call's ``timeout`` raises ``ModelTimeout``
    after the timeout, as a real client would. ``cancelled`` counts calls that were
    cancelled or closed before they finished.
    """

    def __init__(self, steps: Iterable[Step] = (), *, default: Step | None = None,
                 model: str = "scripted-model", record: bool = True) -> None:
        self.script = Script(steps, default=default, owner="ScriptedModel")
        self.model = model
        self.record = record
        #: Tokens and cost of every call answered so far.
        self.usage = Usage()
        #: Calls cancelled (or streams closed) before the answer was complete.
        self.cancelled = 0

    @property
    def requests(self) -> list[ModelRequest]:
        """Every request received, in order."""
        return self.script.requests

    def add(self, *steps: Step) -> None:
        """Append steps to the script."""
        self.script.add(*steps)

    def assert_all_used(self) -> None:
        """Fail if some scripted steps were never requested."""
        self.script.assert_all_used()

    def _request(self, messages: Sequence[Any], tools: Any, stream: bool,
                 params: Mapping[str, Any]) -> ModelRequest | None:
        if not self.record:
            return None
        return ModelRequest(messages=as_model_messages(messages),
                            tools=list(tools) if tools else None,
                            model=self.model, stream=stream,
                            params={k: v for k, v in params.items() if v is not None})

    async def _step(self, request: ModelRequest | None) -> Reply:
        _, step = self.script.take(request, self.record)
        if step.__class__ is Reply:  # the common case, without the resolver
            assert isinstance(step, Reply)
            return step
        resolved = await resolve(step, request or ModelRequest(messages=[]))
        if isinstance(resolved, BaseException):
            raise resolved
        if isinstance(resolved, ErrorReply):
            if resolved.delay:
                await asyncio.sleep(resolved.delay)
            raise error_for_status(resolved.status, resolved.message,
                                   retry_after=resolved.retry_after, model=self.model)
        return resolved

    async def _wait(self, delay: float, timeout: float | None) -> None:
        if timeout is not None and delay > timeout:
            await asyncio.sleep(timeout)
            raise ModelTimeout(f"{self.model} timed out after {timeout:g}s", model=self.model)
        await asyncio.sleep(delay)

    def _response(self, reply: Reply, request: ModelRequest | None) -> ModelResponse:
        if request is not None:
            usage = reply.usage_for(request)
        elif reply.usage is not None:
            usage = msgspec.structs.replace(reply.usage, requests=reply.usage.requests or 1)
        else:
            usage = Usage(requests=1)
        self.usage.add(usage)
        return ModelResponse(content=reply.content, tool_calls=list(reply.tool_calls),
                             reasoning=reply.reasoning, finish_reason=reply.finish(),
                             usage=usage, model=self.model)

    async def complete(
        self, messages: Sequence[Any], *, tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None, response_format: Any = None, timeout: float | None = None,
        **kwargs: Any,
    ) -> ModelResponse:
        """Answer with the next step of the script."""
        request = self._request(messages, tools, False,
                                {"tool_choice": tool_choice, "response_format": response_format,
                                 **kwargs})
        try:
            reply = await self._step(request)
            if reply.delay:
                await self._wait(reply.delay, timeout)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self._response(reply, request)

    def stream(
        self, messages: Sequence[Any], *, tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None, response_format: Any = None, timeout: float | None = None,
        **kwargs: Any,
    ) -> ModelStream:
        """Stream the next step of the script, chunk by chunk."""
        request = self._request(messages, tools, True,
                                {"tool_choice": tool_choice, "response_format": response_format,
                                 **kwargs})
        return ModelStream(lambda ms: self._stream(ms, request, timeout))

    async def _stream(self, ms: ModelStream, request: ModelRequest | None,
                      timeout: float | None) -> AsyncGenerator[str, None]:
        try:
            reply = await self._step(request)
            if reply.delay:
                await self._wait(reply.delay, timeout)
            delay = reply.chunk_delay
            first = True
            for piece in reply.pieces():
                if delay and not first:
                    await self._wait(delay, timeout)
                first = False
                yield piece
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        ms.response = self._response(reply, request)
