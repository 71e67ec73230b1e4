"""Typed errors of the HTTP gateway and the HTTP status each error travels with.

Every error body is ``{"code": "<stable code>", "message": "<text>"}`` (plus ``details``
when the error has any), whatever endpoint answered it::

    from coagent.gateway.errors import status_of, error_body
    from coagent.errors import DeadlineExceeded

    status, headers = status_of(DeadlineExceeded("no reply within 1s"))   # 504, {}
    body = error_body(DeadlineExceeded("no reply within 1s"))            # b'{"code":"deadline_exceeded",...}'

The gateway's own errors subclass :class:`~coagent.errors.CoagentError`, so a client
that knows the hierarchy recognises them by code like every other error.
"""

from __future__ import annotations

from typing import Any

import msgspec

from coagent.errors import (
    AgentAlreadyRegistered,
    AgentCrashed,
    AgentNotFound,
    AgentStopped,
    CallCancelled,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    MailboxFull,
    MessageDecodeError,
    MessageTooLarge,
    MessageTypeConflict,
    RestartLimitExceeded,
    RuntimeNotStarted,
    TooManySessions,
    TransportError,
    UnknownMessage,
)

__all__ = [
    "BadRequest",
    "Unauthorized",
    "EndpointNotFound",
    "RequestTimeout",
    "MethodNotAllowed",
    "IdempotencyKeyReused",
    "NotImplementedHere",
    "InternalError",
    "CallNotFound",
    "status_of",
    "error_body",
    "RETRY_AFTER",
]

#: Seconds a client is told to wait (``Retry-After``) after a 429 or 503.
RETRY_AFTER = 1


class BadRequest(CoagentError, ValueError):
    """The request is malformed: not JSON, a missing field, a bad header value."""

    code = "bad_request"


class Unauthorized(CoagentError):
    """No ``Authorization: Bearer <token>`` header, or a token the gateway does not accept."""

    code = "unauthorized"


class EndpointNotFound(CoagentError, LookupError):
    """No endpoint at that path (see ``/openapi.json``)."""

    code = "endpoint_not_found"


class RequestTimeout(CoagentError, TimeoutError):
    """The client did not send its whole request body in time."""

    code = "request_timeout"


class MethodNotAllowed(CoagentError):
    """The endpoint exists but not with that HTTP method."""

    code = "method_not_allowed"


class IdempotencyKeyReused(CoagentError):
    """An ``Idempotency-Key`` seen before came back with a different address or body."""

    code = "idempotency_key_reused"


class NotImplementedHere(CoagentError):
    """The endpoint is part of the protocol but not served by this gateway."""

    code = "not_implemented"


class CallNotFound(CoagentError, LookupError):
    """No call with that id is waiting for an answer (it ended, expired or was cancelled)."""

    code = "call_not_found"


class InternalError(CoagentError):
    """The gateway failed in a way it did not expect (details are in its log, not here)."""

    code = "internal_error"


# Most specific first: the first class an error is an instance of decides its status.
_STATUS: tuple[tuple[type[CoagentError], int], ...] = (
    (BadRequest, 400),
    (InvalidAddress, 400),
    (MessageDecodeError, 400),
    (UnknownMessage, 400),
    (MessageTypeConflict, 400),
    (Unauthorized, 401),
    (AgentNotFound, 404),
    (EndpointNotFound, 404),
    (CallNotFound, 404),
    (MethodNotAllowed, 405),
    (RequestTimeout, 408),
    (AgentAlreadyRegistered, 409),
    (MessageTooLarge, 413),
    (IdempotencyKeyReused, 422),
    (MailboxFull, 429),
    (TooManySessions, 429),
    # gRPC's HTTP mapping of CANCELLED: the call was cancelled on the caller's request.
    (CallCancelled, 499),
    (AgentCrashed, 500),
    (InternalError, 500),
    (NotImplementedHere, 501),
    (TransportError, 502),
    (RestartLimitExceeded, 503),
    (AgentStopped, 503),
    (RuntimeNotStarted, 503),
    (DeadlineExceeded, 504),
)

_RETRYABLE = frozenset((429, 503))


def status_of(exc: CoagentError) -> tuple[int, dict[str, str]]:
    """The HTTP status for ``exc`` and the headers that go with it (``Retry-After``)."""
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
    headers = {"Retry-After": str(RETRY_AFTER)} if status in _RETRYABLE else {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="coagent"'
    return status, headers


class _ErrorBody(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    details: dict[str, Any] = {}


_encode = msgspec.json.Encoder().encode


def error_body(exc: CoagentError) -> bytes:
    """``{"code", "message", "details"?}`` as JSON; details that are not JSON become strings."""
    details = {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
               for k, v in exc.details.items()}
    return _encode(_ErrorBody(exc.code, exc.message or str(exc), details))
