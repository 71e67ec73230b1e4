from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coagent import Message, RawMessage
from coagent.actors.message import lookup_message_type
from coagent.errors import MessageDecodeError, MessageTypeConflict
from tests.kit import Ping, Pong


def test_encode_decode_round_trip() -> None:
    raw = Ping(n=3).encode()
    assert isinstance(raw, RawMessage)
    assert raw.header["type"] == "Ping"
    assert raw.type == "Ping"
    assert Ping.decode(raw) == Ping(n=3)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_round_trip_property(n: int) -> None:
    assert Ping.decode(Ping(n=n).encode()) == Ping(n=n)


def test_wrong_type_is_a_decode_error() -> None:
    with pytest.raises(MessageDecodeError, match="expected message type 'Pong', got 'Ping'"):
        Pong.decode(Ping(n=1).encode())


@pytest.mark.parametrize("content", [b"{bad", b'{"n": "x"}', b"[]", b"\xff\xfe"])
def test_bad_bytes_are_a_decode_error(content: bytes) -> None:
    with pytest.raises(MessageDecodeError):
        Ping.decode(RawMessage(header={"type": "Ping"}, content=content))


def test_decode_rejects_non_raw() -> None:
    with pytest.raises(MessageDecodeError):
        Ping.decode(b'{"n": 1}')  # type: ignore[arg-type]


def test_explicit_wire_name_and_registry() -> None:
    class Renamed(Message):
        __message_type__ = "tests.Renamed"
        x: int = 0

    assert Renamed(x=1).encode().type == "tests.Renamed"
    assert lookup_message_type("tests.Renamed") is Renamed
    assert lookup_message_type("Ping") is Ping


def test_conflicting_names_are_reported() -> None:
    ns: dict = {"Message": Message, "__name__": "some.other.module"}
    with pytest.raises(MessageTypeConflict, match="'Ping' is claimed by both"):
        exec("class Ping(Message):\n    n: int = 0\n", ns)


def test_redefinition_in_same_module_is_not_a_clash() -> None:
    def make() -> type:
        class Again(Message):
            __message_type__ = "tests.Again"

        return Again

    first, second = make(), make()
    assert lookup_message_type("tests.Again") is second
    assert first is not second


def test_raw_message_from_json_and_msgspec_wire() -> None:
    raw = RawMessage.from_json("Ping", {"n": 5})
    assert Ping.decode(raw) == Ping(n=5)
    blob = msgspec.msgpack.encode(raw)
    assert msgspec.msgpack.decode(blob, type=RawMessage) == raw
