"""Errors of the LLM layer, part of the one :class:`~coagent.errors.CoagentError` hierarchy.

Provider failures arrive as typed errors carrying the provider's own message,
whichever runtime carried the call::

    from coagent.agents.errors import ModelError, RateLimited

    try:
        reply = await agent.run(ChatMessage(role="user", content="hi").encode(), timeout=30)
    except RateLimited as exc:
        print("slow down:", exc, exc.retry_after)
    except ModelError as exc:
        print(exc.code, exc.status_code, exc)

Each class has a unique ``code``, so the error keeps its type across a process boundary.
"""

from __future__ import annotations

from typing import Any

from coagent.errors import CoagentError

__all__ = [
    "ModelError",
    "ModelNotConfigured",
    "RateLimited",
    "ModelTimeout",
    "ModelUnavailable",
    "BadModelRequest",
    "ModelAuthError",
    "MaxTurnsExceeded",
    "OutputValidationError",
    "error_for_status",
    "status_for_error",
    "TRANSIENT",
]


class ModelError(CoagentError):
    """The model provider failed; ``status_code`` is its HTTP status when it gave one."""

    code = "model_error"
    wire_fields = {"status_code": int}
    status_code: int | None = None

    def __init__(self, message: str = "", *, status_code: int | None = None, **details: Any) -> None:
        super().__init__(message, status_code=status_code, **details)
        self.status_code = status_code


class ModelNotConfigured(ModelError):
    """No model name: pass ``model=`` to ``ModelClient`` or set ``MODEL_NAME``."""

    code = "model_not_configured"


class RateLimited(ModelError):
    """The provider refused the request for its rate limit (HTTP 429); transient.

    ``retry_after`` is the provider's ``Retry-After`` in seconds, when it sent one.
    """

    code = "model_rate_limited"
    wire_fields = {"status_code": int, "retry_after": float}
    retry_after: float | None = None

    def __init__(self, message: str = "", *, retry_after: float | None = None, **details: Any) -> None:
        details.setdefault("status_code", 429)
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class ModelTimeout(ModelError, TimeoutError):
    """The provider did not answer within the client's ``timeout``; transient."""

    code = "model_timeout"


class ModelUnavailable(ModelError):
    """The provider could not be reached or failed on its side (connection error, 5xx); transient."""

    code = "model_unavailable"


class BadModelRequest(ModelError, ValueError):
    """The provider rejected the request (400, 404, 422: bad parameters, unknown model,
    context window exceeded); retrying it unchanged will not help."""

    code = "bad_model_request"


class ModelAuthError(ModelError):
    """The provider rejected the credentials (401, 403)."""

    code = "model_auth_error"


class MaxTurnsExceeded(CoagentError):
    """The agent's tool loop used ``max_turns`` model calls without reaching a final answer."""

    code = "max_turns_exceeded"
    wire_fields = {"max_turns": int}


class OutputValidationError(CoagentError, ValueError):
    """The model's structured output still failed validation after ``output_retries`` retries."""

    code = "output_validation_error"


#: Errors worth retrying: the same request may succeed a moment later.
TRANSIENT: tuple[type[ModelError], ...] = (RateLimited, ModelTimeout, ModelUnavailable)


def error_for_status(
    status: int, message: str, *, retry_after: float | None = None, **details: Any
) -> ModelError:
    """The typed error for an HTTP ``status`` from a provider::

        error_for_status(429, "slow down", retry_after=2.0)   # RateLimited
        error_for_status(503, "overloaded")                   # ModelUnavailable
    """
    if status == 429:
        return RateLimited(message, retry_after=retry_after, status_code=status, **details)
    if status in (401, 403):
        return ModelAuthError(message, status_code=status, **details)
    if status in (408, 504):
        return ModelTimeout(message, status_code=status, **details)
    if status >= 500:
        return ModelUnavailable(message, status_code=status, **details)
    if 400 <= status < 500:
        return BadModelRequest(message, status_code=status, **details)
    return ModelError(message, status_code=status, **details)


def status_for_error(error: BaseException) -> int:
    """The HTTP status a provider would send for ``error`` (the inverse of :func:`error_for_status`)."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return status
    if isinstance(error, RateLimited):
        return 429
    if isinstance(error, ModelAuthError):
        return 401
    if isinstance(error, ModelTimeout):
        return 504
    if isinstance(error, BadModelRequest):
        return 400
    if isinstance(error, ModelUnavailable):
        return 503
    return 500
