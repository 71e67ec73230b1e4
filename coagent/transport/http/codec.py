"""JSON shapes of the HTTP wire, as the transport reads and writes them (``docs/wire.md``).

::

    body = encode_message(Ping(n=1).encode())       # b'{"type":"Ping","content":{"n":1}}'
    raw = decode_message(b'{"type":"Pong","content":{"n":1}}')   # RawMessage, content b'{"n":1}'
    error = decode_error_body(404, b'{"code":"agent_not_found","message":"..."}')

Contents are spliced as they are (``msgspec.Raw``): a message's bytes are never decoded
and encoded again on their way through.
"""

from __future__ import annotations

from typing import Any

import msgspec

from coagent.actors.message import CONTENT_TYPE_JSON, RawMessage
from coagent.errors import CoagentError, TransportError
from coagent.transport.wire import decode_error

__all__ = ["encode_message", "decode_message", "decode_error_body", "Delivery", "encode_error_answer",
           "content_of"]

_encode = msgspec.json.Encoder().encode
_NULL = msgspec.Raw(b"null")


class _Message(msgspec.Struct, omit_defaults=True):
    type: str | None
    content: msgspec.Raw = _NULL
    headers: dict[str, str] = {}


class _ErrorBody(msgspec.Struct):
    code: str = "coagent_error"
    message: str = ""
    details: dict[str, Any] = {}


class Delivery(msgspec.Struct, omit_defaults=True):
    """One call the gateway hands to a serving process (an ``event: deliver`` of ``/v1/serve``;
    ``docs/wire.md``, "HTTP serving"): the gateway encodes it, HTTPRuntime decodes it."""

    call: str
    kind: str
    agent: str
    session: str
    type: str
    content: msgspec.Raw
    timeout: float
    headers: dict[str, str] = {}
    sender: str = ""
    #: W3C Trace Context of the calling span (only while the gateway traces).
    traceparent: str = ""
    tracestate: str = ""


_message_decoder = msgspec.json.Decoder(_Message)
_error_decoder = msgspec.json.Decoder(_ErrorBody)
delivery_decoder = msgspec.json.Decoder(Delivery)


def content_of(raw: RawMessage) -> msgspec.Raw:
    """The content to splice into JSON: itself when JSON, else a JSON string of it."""
    content = raw.content
    if not content:
        return _NULL
    if raw.header.get("content_type", CONTENT_TYPE_JSON) == CONTENT_TYPE_JSON:
        return msgspec.Raw(content)
    return msgspec.Raw(_encode(content.decode("utf-8", "replace")))


def encode_message(raw: RawMessage) -> bytes:
    """``{"type", "content", "headers"?}`` for ``raw`` (extra headers travel in ``headers``)."""
    header = raw.header
    extra = {k: v for k, v in header.items() if k not in ("type", "content_type")} if len(header) > 2 else {}
    return _encode(_Message(header.get("type", ""), content_of(raw), extra))


def raw_from(type_name: str, content: msgspec.Raw, headers: dict[str, str] | None = None) -> RawMessage:
    data = bytes(content)
    header = {"content_type": CONTENT_TYPE_JSON, **(headers or {}), "type": type_name}
    return RawMessage(header=header, content=b"{}" if data == b"null" else data)


def decode_message(body: bytes) -> RawMessage | None:
    """The reply in a ``{"type", "content"}`` body (``None`` when its type is null)."""
    try:
        msg = _message_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise TransportError(f"the gateway sent a malformed message: {exc}") from None
    if msg.type is None:
        return None
    return raw_from(msg.type, msg.content, msg.headers)


def decode_error_body(status: int, body: bytes) -> CoagentError:
    """The typed error of an error response (its JSON ``code`` decides the class)."""
    try:
        parsed = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body[:200].decode("utf-8", "replace")
        return TransportError(f"the gateway answered {status}: {text}", status=status)
    return decode_error(parsed.code, _encode({"message": parsed.message, "details": parsed.details}))


def encode_error_answer(exc: CoagentError) -> bytes:
    code, message, details = exc.to_wire()
    return _encode({"error": {"code": code, "message": message, "details": details}})
