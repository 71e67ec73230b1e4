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

from coagent.errors import AgentCrashed, CoagentError, error_types

__all__ = ["encode_error", "decode_error", "KIND_ASK", "KIND_TELL", "KIND_STREAM"]

KIND_ASK = "ask"
KIND_TELL = "tell"
KIND_STREAM = "stream"

_json = msgspec.json.Encoder()
_ERRORS: dict[str, type[CoagentError]] | None = None


class _ErrorBody(msgspec.Struct, omit_defaults=True):
    message: str = ""
    details: dict[str, Any] = {}


def encode_error(exc: BaseException, *, debug: bool = False) -> tuple[str, bytes]:
    """``(code, body)`` for an error reply."""
    if not isinstance(exc, CoagentError):
        text = str(exc)
        exc = AgentCrashed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__,
                           exc_type=type(exc).__name__)
    details = {k: v for k, v in exc.details.items() if isinstance(v, (str, int, float, bool))}
    if debug and exc.__traceback__ is not None:
        import traceback

        details["traceback"] = "".join(traceback.format_exception(exc))
    return exc.code, _json.encode(_ErrorBody(message=exc.message or str(exc), details=details))


def decode_error(code: str, body: bytes) -> CoagentError:
    """The typed exception for an error reply (``CoagentError`` for an unknown code)."""
    global _ERRORS
    if _ERRORS is None or code not in _ERRORS:
        _ERRORS = error_types()  # error classes defined since the last look (e.g. coagent.agents)
    cls = _ERRORS.get(code, CoagentError)
    try:
        parsed = msgspec.json.decode(body, type=_ErrorBody)
    except msgspec.DecodeError:
        parsed = _ErrorBody(message=body.decode("utf-8", "replace"))
    try:
        return cls(parsed.message, **parsed.details)
    except TypeError:
        pass
    try:
        return cls(parsed.message)
    except TypeError:
        # A subclass with a constructor of its own: keep the type, skip its __init__.
        error = cls.__new__(cls)
        CoagentError.__init__(error, parsed.message, **parsed.details)
        return error
