"""What crosses NATS: headers for metadata, the message's own bytes as the body.

A request carries ``type`` (wire type name), ``kind`` (ask, tell or stream), ``session``,
``timeout`` (seconds left: deadlines cross the wire, clocks need not agree), ``call``
(an id the caller can cancel by) and optionally ``sender`` and ``target``. A reply
carries ``type`` (absent for no reply), ``owner`` (the node that serves the session),
and for streams ``seq`` and an ``end`` or ``error`` marker. An error is ``error: <code>``
with a JSON body ``{"message": ...}``; no traceback crosses unless debugging is on.

So any NATS client can talk to an agent::

    nats req coagent.a.echo '{"n": 1}' -H type:Ping -H session:s1
"""

from __future__ import annotations

from typing import Any

import msgspec

from coagent.errors import AgentCrashed, CoagentError, WireValue, error_class

__all__ = ["encode_error", "decode_error", "KIND_ASK", "KIND_TELL", "KIND_STREAM"]

KIND_ASK = "ask"
KIND_TELL = "tell"
KIND_STREAM = "stream"

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
