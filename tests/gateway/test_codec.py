"""Property tests of the gateway's JSON shapes: what goes in comes back out."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coagent.actors.message import RawMessage
from coagent.gateway.codec import (
    CosHeader,
    CosMessage,
    cos_to_raw,
    decode_call,
    encode_reply,
    raw_to_cos_json,
    sse_frame,
)
from coagent.gateway.errors import BadRequest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
type_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
contents = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@given(type_names, contents)
def test_a_call_body_becomes_a_raw_message_and_its_reply_json_again(type_name: str, content: dict) -> None:  # type: ignore[type-arg]
    raw = decode_call(json.dumps({"type": type_name, "content": content}, indent=2).encode())
    assert raw.type == type_name and json.loads(raw.content) == content
    reply = json.loads(encode_reply(raw))
    assert reply == {"type": type_name, "content": content}


@given(type_names, contents)
def test_a_reply_fits_on_one_sse_data_line(type_name: str, content: dict) -> None:  # type: ignore[type-arg]
    pretty = json.dumps(content, indent=2).encode()
    frame = sse_frame(7, "message", encode_reply(RawMessage(header={"type": type_name}, content=pretty)))
    lines = frame.split(b"\n")
    assert lines[:2] == [b"id: 7", b"event: message"] and lines[2].startswith(b"data: ")
    assert lines[3:] == [b"", b""]  # one data line, then the blank line that ends the event
    assert json.loads(frame.split(b"data: ", 1)[1])["content"] == content


def test_a_reply_that_is_not_json_comes_back_as_a_string() -> None:
    raw = RawMessage(header={"type": "Text", "content_type": "text/plain"}, content=b"hello\nworld")
    assert json.loads(encode_reply(raw)) == {"type": "Text", "content": "hello\nworld"}
    assert json.loads(encode_reply(None)) == {"type": None, "content": None}


@pytest.mark.parametrize("body", [b"", b"null", b"[1]", b'{"type": 3}', b'{"type": "A", "content": 1, "x": 0}'])
def test_a_malformed_call_body_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_call(body)


@given(type_names, st.text(max_size=60),
       st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers(), max_size=3))
def test_a_cos_message_survives_the_trip_through_ours(type_name: str, content: str, extensions: dict) -> None:  # type: ignore[type-arg]
    msg = CosMessage(header=CosHeader(type=type_name, extensions=extensions), content=content)
    back = msgspec.json.decode(raw_to_cos_json(cos_to_raw(msg)), type=CosMessage)
    assert back.header == msg.header
    # Empty JSON content is a message of defaults on the way in, as in the original.
    assert back.content == (content or "{}")
    shape = json.loads(raw_to_cos_json(cos_to_raw(msg)))
    assert "content_type" not in shape["header"]  # defaults left out, as the original encodes
    assert ("extensions" in shape["header"]) == bool(extensions)
