"""JSON shapes of the gateway: our API's messages, the original's CoS messages, SSE frames.

Our API carries a message as ``{"type": "Ping", "content": {...}}``::

    raw = decode_call(b'{"type": "Ping", "content": {"n": 1}}')   # RawMessage(type Ping)
    encode_reply(Pong(n=1).encode())      # b'{"type":"Pong","content":{"n":1}}'
    sse_frame(1, "message", b'{"type":"Tick","content":{"i":0}}')

The original's CoS endpoints carry ``RawMessage``s whose ``content`` is a JSON *string*::

    decode_cos_message({"header": {"type": "Ping"}, "content": "{}"})

Content bytes are spliced into replies as they are (``msgspec.Raw``) instead of being
decoded and encoded again: that is most of the cost of a small reply.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from coagent.actors.address import Address, new_session_id
from coagent.actors.message import CONTENT_TYPE_JSON, RawMessage
from coagent.gateway.errors import BadRequest

__all__ = [
    "CallBody",
    "decode_call",
    "encode_reply",
    "sse_frame",
    "CosAddress",
    "CosMessage",
    "PublishBody",
    "PublishMultiBody",
    "decode_publish",
    "decode_publish_multi",
    "cos_address",
    "cos_to_raw",
    "raw_to_cos_json",
    "json_content",
]

_EMPTY = msgspec.Raw(b"{}")
_NULL = msgspec.Raw(b"null")


class CallBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``call``, ``stream`` and ``tell``: a message type, its fields, extra headers."""

    type: str
    content: msgspec.Raw = _EMPTY
    headers: dict[str, str] = {}


class _Reply(msgspec.Struct):
    type: str | None
    content: msgspec.Raw


_call_decoder = msgspec.json.Decoder(CallBody)
_encoder = msgspec.json.Encoder()


def _bad_json(exc: Exception, what: str) -> BadRequest:
    return BadRequest(f"malformed {what}: {exc}")


def decode_call(body: bytes) -> RawMessage:
    """Parse a call body into the ``RawMessage`` the agent receives (``BadRequest`` if malformed)."""
    try:
        call = _call_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _bad_json(exc, 'request body: expected {"type": "<MessageType>", "content": {...}}') from None
    if not call.type:
        raise BadRequest("the message type ('type') must not be empty")
    content = bytes(call.content)
    if content == b"null":
        content = b"{}"
    header = {"content_type": CONTENT_TYPE_JSON, **call.headers, "type": call.type}
    return RawMessage(header=header, content=content)


def json_content(raw: RawMessage) -> msgspec.Raw:
    """The reply's content as JSON to splice in: itself when it is one-line JSON, else a string."""
    content = raw.content
    if not content:
        return _NULL
    ctype = raw.header.get("content_type", CONTENT_TYPE_JSON)
    if ctype == CONTENT_TYPE_JSON:
        try:
            value = msgspec.json.decode(content)
        except msgspec.DecodeError:
            pass  # not JSON after all: sent as a string below
        else:
            # Spliced as is unless it spans lines (an SSE data line must not).
            return msgspec.Raw(content if b"\n" not in content else _encoder.encode(value))
    return msgspec.Raw(_encoder.encode(content.decode("utf-8", "replace")))


def encode_reply(raw: RawMessage | None) -> bytes:
    """``{"type": ..., "content": ...}`` for a reply (``null`` fields when there is none)."""
    if raw is None:
        return b'{"type":null,"content":null}'
    return _encoder.encode(_Reply(raw.header.get("type"), json_content(raw)))


def sse_frame(event_id: int, event: str, data: bytes) -> bytes:
    """One Server-Sent Event; ``data`` must be one line of JSON."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.encode(), data)


# ---------------------------------------------------------------- the original's CoS shapes


class CosAddress(msgspec.Struct):
    """The original's address: ``{"name": "server", "id": "<session>"}`` (``id`` may be empty)."""

    name: str
    id: str = ""


class CosHeader(msgspec.Struct, omit_defaults=True):
    type: str
    content_type: str = CONTENT_TYPE_JSON
    extensions: dict[str, Any] = {}


class CosMessage(msgspec.Struct, omit_defaults=True):
    """The original's ``RawMessage``: defaults are left out when encoding, as it did."""

    header: CosHeader
    reply: CosAddress | None = None
    content: str = ""


class PublishBody(msgspec.Struct):
    """``POST /runtime/channel/publish``; ``timeout`` in seconds (``None``: the gateway's default)."""

    addr: CosAddress
    msg: CosMessage
    request: bool = False
    reply: str = ""
    timeout: float | None = None
    probe: bool = True


class PublishMultiBody(msgspec.Struct):
    """``POST /runtime/channel/publish_multi``."""

    addr: CosAddress
    msg: CosMessage
    probe: bool = True


_publish_decoder = msgspec.json.Decoder(PublishBody)
_publish_multi_decoder = msgspec.json.Decoder(PublishMultiBody)
_EXTENSIONS = "extensions"


def decode_publish(body: bytes) -> PublishBody:
    try:
        return _publish_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _bad_json(exc, "publish body") from None


def decode_publish_multi(body: bytes) -> PublishMultiBody:
    try:
        return _publish_multi_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _bad_json(exc, "publish_multi body") from None


def cos_address(addr: CosAddress) -> Address:
    """Our address for the original's; an empty ``id`` means a fresh session, as ``spec.run()``."""
    return Address(addr.name, addr.id or new_session_id())


def cos_to_raw(msg: CosMessage) -> RawMessage:
    """The original's message as ours; extensions travel JSON-encoded in one header.

    Empty JSON content is a message of all defaults (``{"header": {"type": "Pong"}}``), as there.
    """
    ctype = msg.header.content_type
    header = {"type": msg.header.type, "content_type": ctype}
    if msg.header.extensions:
        header[_EXTENSIONS] = json.dumps(msg.header.extensions, separators=(",", ":"))
    content = msg.content.encode()
    if not content and ctype == CONTENT_TYPE_JSON:
        content = b"{}"
    return RawMessage(header=header, content=content)


def raw_to_cos_json(raw: RawMessage, reply: CosAddress | None = None) -> bytes:
    """Our message in the original's JSON shape (defaults left out), with its reply address."""
    extensions: dict[str, Any] = {}
    text = raw.header.get(_EXTENSIONS)
    if text:
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            extensions = loaded
    header = CosHeader(
        type=raw.header.get("type", ""),
        content_type=raw.header.get("content_type", CONTENT_TYPE_JSON),
        extensions=extensions,
    )
    return _encoder.encode(CosMessage(header=header, reply=reply,
                                      content=raw.content.decode("utf-8", "replace")))
