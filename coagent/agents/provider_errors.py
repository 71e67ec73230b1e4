"""Provider failures as typed errors: what litellm raised, mapped to :mod:`coagent.agents.errors`.

::

    try:
        raw = await litellm.acompletion(**params)
    except Exception as exc:
        error = map_error(exc, litellm, model="openai/gpt-4o-mini")
        # RateLimited (with retry_after), ModelTimeout, ModelUnavailable, BadModelRequest, ...

The message is the provider's own text, without litellm's prefixes; a connection
failure names its cause (refused, reset, DNS); ``Retry-After`` (seconds, an HTTP date,
or ``retry-after-ms``) becomes ``RateLimited.retry_after``.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from typing import Any

from coagent.agents.errors import (
    BadModelRequest,
    ModelAuthError,
    ModelError,
    ModelTimeout,
    ModelUnavailable,
    RateLimited,
    error_for_status,
)
from coagent.errors import CoagentError

__all__ = ["map_error", "provider_message", "retry_after_of"]


def map_error(exc: BaseException, litellm: Any, model: str, api_base: str | None = None) -> ModelError:
    """The typed error for an exception raised by litellm (``exc`` itself if already typed)::

        except Exception as exc:
            raise map_error(exc, litellm, "openai/gpt-4o-mini") from exc
    """
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, CoagentError):  # pragma: no cover - litellm never raises ours
        return ModelError(str(exc), model=model)
    ex = litellm.exceptions
    text = provider_message(exc)
    provider = getattr(exc, "llm_provider", None) or ""
    details: dict[str, Any] = {"model": model}
    if provider:
        details["provider"] = provider
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    if isinstance(exc, (ex.Timeout, asyncio.TimeoutError)):
        return ModelTimeout(f"{model} did not answer in time: {text}", status_code=status,
                            **details)
    cause = _connection_cause(exc)
    if cause is not None:
        where = f" at {api_base}" if api_base else ""
        return ModelUnavailable(f"cannot reach the provider of {model}{where}: {cause}",
                                **details)
    if isinstance(exc, ex.RateLimitError) or status == 429:
        return RateLimited(text, retry_after=retry_after_of(exc), status_code=status or 429,
                           **details)
    if isinstance(exc, (ex.AuthenticationError, ex.PermissionDeniedError)):
        return ModelAuthError(text, status_code=status, **details)
    if isinstance(exc, (ex.BadRequestError, ex.NotFoundError, ex.UnprocessableEntityError,
                        ex.UnsupportedParamsError)):
        return BadModelRequest(text, status_code=status or 400, **details)
    if status is not None:
        return error_for_status(status, text, retry_after=retry_after_of(exc), **details)
    if isinstance(exc, ex.APIConnectionError):
        return ModelUnavailable(text, **details)
    return ModelError(f"{type(exc).__name__}: {text}", **details)



def provider_message(exc: BaseException) -> str:
    """The provider's own error text, without litellm's prefixes."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        msg = body.get("message")
        if isinstance(msg, str) and msg:
            return msg
        err = body.get("error")
        inner = err.get("message") if isinstance(err, dict) else None
        if isinstance(inner, str):
            return inner
    text = str(getattr(exc, "message", "") or exc)
    while True:
        stripped = _LITELLM_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    text = text.split(" Error_str: ", 1)[0]
    return text.strip() or type(exc).__name__


# "litellm.RateLimitError: RateLimitError: OpenAIException - <the provider's text>"
_LITELLM_PREFIX = re.compile(r"^\s*(litellm\.\w+|\w+Error|\w+Exception|Timeout)\s*[:-]\s*")


def _connection_cause(exc: BaseException) -> str | None:
    """The underlying connection failure, if ``exc`` is one (refused, reset, DNS, ...)."""
    seen = 0
    cur: BaseException | None = exc
    found: BaseException | None = None
    while cur is not None and seen < 10:
        if isinstance(cur, OSError) and not isinstance(cur, TimeoutError):
            found = cur  # the innermost OS-level error describes it best
        elif type(cur).__name__ in ("ConnectError", "ClientConnectorError", "APIConnectionError") \
                and found is None:
            found = cur
        cur = cur.__cause__ or cur.__context__
        seen += 1
    if found is None:
        return None
    if isinstance(found, OSError) and found.strerror:
        return found.strerror
    return str(found) or type(found).__name__


def retry_after_of(exc: BaseException) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000.0
        value = headers.get("retry-after")
    except Exception:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
