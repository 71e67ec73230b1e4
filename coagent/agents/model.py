"""The model layer: ``ModelClient`` over ``litellm.acompletion``, streamed or not, with tools.

::

    client = ModelClient(model="openai/gpt-4o-mini", api_key=os.environ["OPENAI_API_KEY"])
    client = ModelClient()          # reads MODEL_NAME, MODEL_API_BASE, MODEL_API_VERSION, MODEL_API_KEY

    response = await client.complete([{"role": "user", "content": "hi"}])
    print(response.content, response.usage.total_tokens, response.usage.cost)

    async with client.stream([{"role": "user", "content": "hi"}]) as stream:
        async for delta in stream:
            print(delta, end="")
    print(stream.response.usage)

    print(client.usage)             # every call made through this client so far

litellm is imported on the first call (in a worker thread, so the event loop keeps
serving other sessions meanwhile), never by ``import coagent.agents``.

The pieces with reasons of their own live beside it: the response types
(``model_types.py``), the retry policy (``retry.py``), streamed-answer assembly
(``streaming.py``) and the mapping of provider failures (``provider_errors.py``).

Provider failures become typed errors (:mod:`coagent.agents.errors`). Transient ones
(rate limits, timeouts, connection errors, 5xx) are retried ``num_retries`` times with
exponential backoff and jitter, honouring the provider's ``Retry-After`` and never
sleeping past the call's ``timeout``. litellm's own retries are switched off so that
exactly one policy applies; everything else (``fallbacks``, ``temperature``, custom
headers, ...) is passed through to litellm untouched.

Cancelling the task that awaits a call (a caller's deadline, a closed stream, Ctrl-C)
cancels the HTTP request: the provider sees the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

from coagent.agents.errors import ModelError, ModelNotConfigured, ModelTimeout
from coagent.agents.messages import Usage
from coagent.agents.model_types import (
    ChatModel,
    ModelResponse,
    ModelStream,
    ToolCall,
    as_model_messages,
)
from coagent.agents.provider_errors import map_error
from coagent.agents.retry import call_with_retries
from coagent.agents.streaming import StreamAssembler
from coagent.observability.switch import state as _obs

__all__ = [
    "ChatModel",
    "ModelClient",
    "ModelResponse",
    "ModelStream",
    "ToolCall",
    "import_litellm",
    "load_litellm",
    "as_model_messages",
]

ENV_MODEL = "MODEL_NAME"
ENV_API_BASE = "MODEL_API_BASE"
ENV_API_VERSION = "MODEL_API_VERSION"
ENV_API_KEY = "MODEL_API_KEY"

_litellm: Any = None
_NO_SPAN: nullcontext[None] = nullcontext()


def import_litellm() -> Any:
    """Import and configure litellm (once); blocks for a few seconds the first time.

    Sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (unless already set) so that the import
    never fetches the price map over the network, silences litellm's debug banners and,
    unless ``LITELLM_LOG`` or an explicit level says otherwise, its per-call INFO lines.
    """
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm
        import tenacity  # noqa: F401  (the retry policy's; imported here, off the event loop)

        litellm.suppress_debug_info = True
        if not os.getenv("LITELLM_LOG"):
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                logger = logging.getLogger(name)
                if logger.level == logging.NOTSET:
                    logger.setLevel(logging.WARNING)
        _litellm = litellm
    return _litellm


async def load_litellm() -> Any:
    """:func:`import_litellm` without blocking the event loop (the import runs in a thread)."""
    if _litellm is not None:
        return _litellm
    return await asyncio.to_thread(import_litellm)


class ModelClient:
    """A configured model on litellm: which model, where, with which credentials and policy.

    Args:
        model: litellm model name, e.g. ``"openai/gpt-4o-mini"`` (``None``: ``$MODEL_NAME``;
            ``ModelClient(...)`` reads all four settings from the environment).
        api_base: provider URL (``None``: ``$MODEL_API_BASE``).
        api_version: provider API version, e.g. for Azure (``None``: ``$MODEL_API_VERSION``).
        api_key: credential (``None``: ``$MODEL_API_KEY``); never put into messages,
            headers of Coagent messages, errors or ``repr``.
        timeout: seconds one HTTP attempt may take (for a stream: between two chunks).
        num_retries: retries of a transient failure (rate limit, timeout, connection, 5xx).
        backoff_min, backoff_max: bounds of the exponential retry delay (full jitter in
            its upper half); a provider's ``Retry-After`` is used instead when given.
        **litellm_kwargs: passed to every ``litellm.acompletion`` call (``fallbacks``,
            ``temperature``, ``extra_headers``, ``input_cost_per_token``, ...).

    ``usage`` accumulates the tokens and cost of every call made through this client.
    """

    def __init__(
        self,
        model: str | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        num_retries: int = 2,
        backoff_min: float = 0.5,
        backoff_max: float = 8.0,
        **litellm_kwargs: Any,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if num_retries < 0 or backoff_min < 0 or backoff_max < backoff_min:
            raise ValueError("need num_retries >= 0 and 0 <= backoff_min <= backoff_max")
        if model is Ellipsis:  # type: ignore[comparison-overlap]
            # ``ModelClient(...)``, as the seed README's pattern snippets write it: all from
            # the environment.
            model = None
        self.model: str = model or os.getenv(ENV_MODEL) or ""
        self.api_base = api_base or os.getenv(ENV_API_BASE) or None
        self.api_version = api_version or os.getenv(ENV_API_VERSION) or None
        self._api_key = api_key or os.getenv(ENV_API_KEY) or None
        self.timeout = timeout
        self.num_retries = num_retries
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.litellm_kwargs = litellm_kwargs
        #: Tokens and cost of every call made through this client.
        self.usage = Usage()
        self._price_unknown = False

    def __repr__(self) -> str:
        key = ", api_key=***" if self._api_key else ""
        base = f", api_base={self.api_base!r}" if self.api_base else ""
        return f"ModelClient(model={self.model!r}{base}{key})"

    # ---------------------------------------------------------------- calls

    async def complete(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> ModelResponse:
        """One model answer (retried per policy on transient failures).

        Args:
            messages: the conversation, as OpenAI dicts or ``ChatMessage``.
            tools: OpenAI tool schemas (see :class:`coagent.agents.Tool`).
            tool_choice, response_format: passed to the provider.
            timeout: seconds the whole call, retries included, may take.
            **kwargs: more ``litellm.acompletion`` arguments for this call only
                (``num_retries`` here overrides the client's retry count).
        """
        retries = kwargs.pop("num_retries", self.num_retries)
        params = self._params(messages, tools, tool_choice, response_format, False, kwargs)
        litellm = await load_litellm()
        deadline = None if timeout is None else time.monotonic() + timeout
        # A ``chat`` span (and token metrics) while observability is on.
        with _obs.hooks.model_span(self, messages) if _obs.active else _NO_SPAN as call:
            raw = await self._call(litellm, params, deadline, retries)
            response = self._response(raw, litellm)
            if call is not None:
                call.done(response)
        self.usage.add(response.usage)
        return response

    def stream(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> ModelStream:
        """Stream one model answer as text deltas (arguments as in :meth:`complete`).

        Opening the stream is retried per policy; a failure after the first chunk is not
        (the text already seen would repeat). Tool calls and usage are assembled into
        ``stream.response``.
        """
        def open_stream(ms: ModelStream) -> AsyncGenerator[str, None]:
            gen = self._stream(ms, messages, tools, tool_choice, response_format, timeout, kwargs)
            return _obs.hooks.traced_model_stream(self, ms, messages, gen) if _obs.active else gen

        return ModelStream(open_stream)

    async def _stream(
        self, ms: ModelStream, messages: Sequence[Any], tools: Any, tool_choice: Any,
        response_format: Any, timeout: float | None, kwargs: dict[str, Any],
    ) -> AsyncGenerator[str, None]:
        retries = kwargs.pop("num_retries", self.num_retries)
        params = self._params(messages, tools, tool_choice, response_format, True, kwargs)
        litellm = await load_litellm()
        deadline = None if timeout is None else time.monotonic() + timeout
        raw = await self._call(litellm, params, deadline, retries)
        parts = StreamAssembler()
        try:
            async for chunk in raw:
                text = parts.add(chunk)
                if text:
                    yield text
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            error = self._error(exc, litellm)
            if error is exc:
                raise
            raise error from exc
        finally:
            aclose = getattr(raw, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # the connection is being torn down anyway
                    pass
        response = ModelResponse(
            content=parts.content,
            tool_calls=[ToolCall(id=id_, name=name, arguments=arguments)
                        for id_, name, arguments in parts.tool_calls],
            reasoning=parts.reasoning,
            finish_reason=parts.finish_reason,
            usage=self._usage(parts.raw_usage, litellm,
                              _reported_cost(parts.usage_chunk) if parts.usage_chunk else None),
            model=parts.model or self.model,
        )
        self.usage.add(response.usage)
        ms.response = response

    # ------------------------------------------------------------- helpers

    async def _call(self, litellm: Any, params: dict[str, Any], deadline: float | None,
                    retries: int) -> Any:
        """``litellm.acompletion``, retried per policy; failures become typed errors."""

        async def attempt() -> Any:
            try:
                return await litellm.acompletion(**params, timeout=self._attempt_timeout(deadline))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = self._error(exc, litellm)
                if error is exc:
                    raise
                raise error from exc

        return await call_with_retries(attempt, retries=retries, backoff_min=self.backoff_min,
                                       backoff_max=self.backoff_max, deadline=deadline)

    def _params(
        self, messages: Sequence[Any], tools: Any, tool_choice: Any, response_format: Any,
        stream: bool, kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        if not self.model:
            raise ModelNotConfigured(
                f"no model configured: pass model= to ModelClient or set ${ENV_MODEL}"
            )
        params: dict[str, Any] = {**self.litellm_kwargs, **kwargs}
        params["model"] = self.model
        params["messages"] = as_model_messages(messages)
        if self.api_base:
            params["api_base"] = self.api_base
        if self.api_version:
            params["api_version"] = self.api_version
        if self._api_key:
            params["api_key"] = self._api_key
        if tools:
            params["tools"] = list(tools)
            if tool_choice is not None:
                params["tool_choice"] = tool_choice
        if response_format is not None:
            params["response_format"] = response_format
        if stream:
            params["stream"] = True
            params.setdefault("stream_options", {"include_usage": True})
        params["num_retries"] = 0  # one retry policy: ours
        params.pop("timeout", None)
        return params

    def _attempt_timeout(self, deadline: float | None) -> float:
        if deadline is None:
            return self.timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise ModelTimeout(f"no time left to call {self.model}", model=self.model)
        return min(self.timeout, left)

    def _response(self, raw: Any, litellm: Any) -> ModelResponse:
        choice = raw.choices[0]
        message = choice.message
        calls = []
        for i, tc in enumerate(getattr(message, "tool_calls", None) or ()):
            fn = tc.function
            calls.append(ToolCall(id=tc.id or f"call_{i}", name=fn.name or "",
                                  arguments=fn.arguments or "{}"))
        return ModelResponse(
            content=message.content or "",
            tool_calls=calls,
            reasoning=getattr(message, "reasoning_content", None) or "",
            finish_reason=choice.finish_reason,
            usage=self._usage(getattr(raw, "usage", None), litellm, _reported_cost(raw)),
            model=getattr(raw, "model", None) or self.model,
        )

    def _usage(self, raw_usage: Any, litellm: Any, reported_cost: float | None = None) -> Usage:
        if raw_usage is None:
            return Usage(requests=1, cost=reported_cost or 0.0)
        prompt = int(getattr(raw_usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(raw_usage, "completion_tokens", 0) or 0)
        total = int(getattr(raw_usage, "total_tokens", 0) or (prompt + completion))
        return Usage(requests=1, prompt_tokens=prompt, completion_tokens=completion,
                     total_tokens=total, cost=self._cost(prompt, completion, litellm, reported_cost))

    def _error(self, exc: BaseException, litellm: Any) -> ModelError:
        """The typed error for an exception raised by litellm."""
        return map_error(exc, litellm, self.model, self.api_base)

    def _cost(self, prompt: int, completion: int, litellm: Any, reported: float | None) -> float:
        """Dollars for one call: explicit per-token prices, else litellm's figure for the model
        that answered (right for fallbacks too), else litellm's price of ``self.model``."""
        kw = self.litellm_kwargs
        p_in, p_out = kw.get("input_cost_per_token"), kw.get("output_cost_per_token")
        if p_in is not None or p_out is not None:
            return prompt * float(p_in or 0.0) + completion * float(p_out or 0.0)
        if reported is not None:
            return reported
        if self._price_unknown:
            return 0.0
        try:
            cost_in, cost_out = litellm.cost_per_token(
                model=self.model, prompt_tokens=prompt, completion_tokens=completion
            )
        except Exception:
            self._price_unknown = True  # not in litellm's price map: do not ask again
            return 0.0
        return float(cost_in) + float(cost_out)


def _reported_cost(obj: Any) -> float | None:
    """The cost litellm computed for a response (or a stream's usage chunk), if any."""
    hidden = getattr(obj, "_hidden_params", None)
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if cost is None:
        cost = getattr(getattr(obj, "usage", None), "cost", None)
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0:
        return float(cost)
    return None
