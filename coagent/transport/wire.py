"""What crosses NATS: every header name and marker of the wire, in one place.

The wire protocol is written down for implementers of other-language clients in
``docs/wire.md``; every constant here appears there (a test checks it). Any NATS
client can talk to an agent::

    nats req coagent.a.echo '{"n": 1}' -H type:Ping -H session:s1

A request carries ``type`` (wire type name), ``kind`` (ask, tell or stream), ``session``,
``timeout`` (seconds left: deadlines cross the wire, clocks need not agree) and optionally
``sender``, ``target`` and the W3C ``traceparent``/``tracestate``. A reply carries ``type`` (absent for no reply), ``owner`` (the
node that serves the session), and for streams ``seq`` and an ``end`` or ``error`` marker.
An error is ``error: <code>`` with a JSON body ``{"message": ...}``; no traceback crosses
unless debugging is on.
"""

from __future__ import annotations

from typing import Any

import msgspec

from coagent.errors import AgentCrashed, CoagentError, WireValue, error_class

__all__ = [
    "encode_error", "decode_error", "KIND_ASK", "KIND_TELL", "KIND_STREAM",
    "H_TYPE", "H_KIND", "H_SESSION", "H_TIMEOUT", "H_SENDER", "H_TARGET", "H_OWNER", "H_ERROR",
    "H_SEQ", "H_END", "H_RETRY", "H_STATUS", "H_TRACEPARENT", "H_TRACESTATE", "STATUS_NO_RESPONDERS", "END_MARKER", "RETRY_MARKER",
    "RESERVED_HEADERS",
]

# -- values of the ``kind`` header (absent means ``ask``)
KIND_ASK = "ask"
KIND_TELL = "tell"
KIND_STREAM = "stream"

# -- request headers
#: The wire type name of the body (``Message.__message_type__``); on replies too.
H_TYPE = "type"
#: ``ask`` (default), ``tell`` or ``stream``.
H_KIND = "kind"
#: The session id, on messages to an agent type's queue-group subject.
H_SESSION = "session"
#: Seconds the caller still waits (decimal text); the receiver's own default when absent.
H_TIMEOUT = "timeout"
#: The calling actor's address (``name:session``), when the caller is an actor.
H_SENDER = "sender"
#: The addressed actor's name when it differs from the subject's type (a supervisor's child).
H_TARGET = "target"
#: W3C Trace Context of the caller's span (only while tracing is on); with ``tracestate``.
H_TRACEPARENT = "traceparent"
H_TRACESTATE = "tracestate"

# -- reply headers
#: The node that serves the session; on replies to queue-group calls (and first stream items).
H_OWNER = "owner"
#: An error code (``CoagentError.code``); the body is ``{"message": ..., "details": {...}}``.
H_ERROR = "error"
#: The 1-based position of a stream message (items, then the end or error marker).
H_SEQ = "seq"
#: Present (value ``1``) on the last message of a stream that ended normally.
H_END = "end"
#: Present (value ``1``) on an error from a node that does not serve the session (any more):
#: send the call again to the agent type's queue group.
H_RETRY = "retry"
#: Set by the NATS server itself: ``503`` means nobody subscribes to the subject.
H_STATUS = "Status"
STATUS_NO_RESPONDERS = "503"
END_MARKER = "1"
RETRY_MARKER = "1"

#: Headers the protocol uses; any other header of a request travels as a message header.
RESERVED_HEADERS = frozenset((
    H_TYPE, H_KIND, H_SESSION, H_TIMEOUT, H_SENDER, H_TARGET, H_OWNER, H_ERROR, H_SEQ, H_END,
    H_RETRY, H_TRACEPARENT, H_TRACESTATE,
))

_json = msgspec.json.Encoder()


class _ErrorBody(msgspec.Struct, omit_defaults=True):
    message: str = ""
    details: dict[str, Any] = {}


def encode_error(exc: BaseException, *, debug: bool = False) -> tuple[str, bytes]:
    """``(code, body)`` for an error reply; a non-Coagent exception crosses as ``AgentCrashed``."""
    if not isinstance(exc, CoagentError):
        text = str(exc)
        exc = AgentCrashed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__,
                           exc_type=type(exc).__name__)
    code, message, details = exc.to_wire()
    if debug and exc.__traceback__ is not None:
        import traceback

        details["traceback"] = "".join(traceback.format_exception(exc))
    return code, _json.encode(_ErrorBody(message=message, details=details))


def decode_error(code: str, body: bytes) -> CoagentError:
    """The typed exception for an error reply, rebuilt by its class's ``from_wire``.

    An unknown code (or a body its class rejects) gives a ``CoagentError`` that keeps
    the remote ``code``, so it can be relayed unchanged.
    """
    try:
        parsed = msgspec.json.decode(body, type=_ErrorBody)
    except msgspec.DecodeError:
        parsed = _ErrorBody(message=body.decode("utf-8", "replace"))
    details: dict[str, WireValue] = {
        k: v for k, v in parsed.details.items() if isinstance(v, (str, int, float, bool))
    }
    cls = error_class(code)
    if cls is not None:
        try:
            return cls.from_wire(parsed.message, details)
        except (TypeError, ValueError):
            pass  # a peer sent details this class cannot take: keep the code, not the type
    error = CoagentError(parsed.message, **details)
    error.code = code
    return error
