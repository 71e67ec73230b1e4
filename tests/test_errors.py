"""Every error class has its own stable code and crosses the wire with its type and details."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coagent.agents  # noqa: F401  (defines the LLM layer's and the patterns' error classes)
from coagent.errors import (
    AgentCrashed,
    ClaimNotSettled,
    CoagentError,
    DeadlineExceeded,
    DuplicateChild,
    NodeAlreadyRunning,
    error_class,
    error_types,
)
from coagent.transport.wire import decode_error, encode_error

ALL_CLASSES = sorted(error_types().values(), key=lambda cls: cls.code)

_text = st.text(max_size=40)
_scalar = st.one_of(
    st.text(max_size=20), st.integers(-(2**53), 2**53), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _value_for(expected: type | tuple[type, ...]) -> st.SearchStrategy[object]:
    types = expected if isinstance(expected, tuple) else (expected,)
    options: list[st.SearchStrategy[object]] = []
    if str in types:
        options.append(st.text(max_size=20))
    if float in types:
        options.append(st.floats(allow_nan=False, allow_infinity=False))
    if int in types:
        options.append(st.integers(-(2**53), 2**53))
    if bool in types:
        options.append(st.booleans())
    return st.one_of(options)


@st.composite
def errors(draw: st.DrawFn) -> CoagentError:
    cls = draw(st.sampled_from(ALL_CLASSES))
    details: dict[str, object] = {}
    for field, expected in cls.wire_fields.items():
        if draw(st.booleans()):
            details[field] = draw(_value_for(expected))
    extra = draw(st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8), _scalar, max_size=3))
    for key, value in extra.items():
        details.setdefault(f"x_{key}", value)
    return cls(draw(_text), **details)


def _wire_details(error: CoagentError) -> dict[str, object]:
    return {k: v for k, v in error.details.items() if v is not None}


def test_every_error_class_of_the_package_has_a_code_of_its_own() -> None:
    codes = [cls.code for cls in ALL_CLASSES]
    assert len(codes) == len(set(codes))
    for cls in ALL_CLASSES:
        assert cls.__dict__["code"] == cls.code, cls
        assert error_class(cls.code) is cls
    assert {NodeAlreadyRunning.code, DuplicateChild.code, ClaimNotSettled.code} <= set(codes)


@settings(max_examples=300, deadline=None)
@given(error=errors())
def test_every_error_class_round_trips_through_the_wire_with_its_type_and_details(
    error: CoagentError,
) -> None:
    back = decode_error(*encode_error(error))
    assert type(back) is type(error)
    assert back.code == error.code
    assert back.message == error.message
    assert _wire_details(back) == _wire_details(error)
    for field in type(error).wire_fields:
        if field in back.details:
            assert getattr(back, field, back.details[field]) == back.details[field]


@settings(max_examples=100, deadline=None)
@given(error=errors())
def test_every_error_class_survives_pickling(error: CoagentError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and back.details == error.details and str(back) == str(error)


def test_an_unknown_code_decodes_as_coagent_error_keeping_the_code() -> None:
    back = decode_error("billing_quota_exceeded", b'{"message":"over quota","details":{"limit":5}}')
    assert type(back) is CoagentError
    assert back.code == "billing_quota_exceeded" and str(back) == "over quota"
    assert back.details == {"limit": 5}
    # Relayed again, it keeps the remote code.
    assert encode_error(back)[0] == "billing_quota_exceeded"


def test_a_declared_field_of_the_wrong_type_is_dropped_not_trusted() -> None:
    back = decode_error("agent_crashed", b'{"message":"boom","details":{"exc_type":42}}')
    assert type(back) is AgentCrashed and back.exc_type == "" and str(back) == "boom"
    back = decode_error("deadline_exceeded", b'{"message":"late","details":{"timeout":"soon"}}')
    assert type(back) is DeadlineExceeded and "timeout" not in back.details


def test_a_body_that_is_not_json_becomes_the_message() -> None:
    back = decode_error("deadline_exceeded", b"plain text")
    assert type(back) is DeadlineExceeded and str(back) == "plain text"


def test_a_plain_exception_crosses_as_agent_crashed_naming_its_class() -> None:
    back = decode_error(*encode_error(KeyError("k")))
    assert type(back) is AgentCrashed and back.exc_type == "KeyError"


def test_two_classes_cannot_claim_one_code() -> None:
    with pytest.raises(TypeError, match="already used by"):
        class Clash(CoagentError):
            code = "deadline_exceeded"


def test_a_subclass_without_a_code_crosses_as_its_base() -> None:
    class MyTimeout(DeadlineExceeded):
        pass

    back = decode_error(*encode_error(MyTimeout("late", timeout=1.0)))
    assert type(back) is DeadlineExceeded and back.details == {"timeout": 1.0}


def test_a_subclass_with_its_own_constructor_says_how_it_is_rebuilt() -> None:
    class QuotaExceeded(CoagentError):
        code = "test_quota_exceeded"
        wire_fields = {"limit": int}

        def __init__(self, limit: int) -> None:
            super().__init__(f"over the quota of {limit}", limit=limit)
            self.limit = limit

    # Without a from_wire of its own: the type, message and declared fields still cross.
    back = decode_error(*encode_error(QuotaExceeded(7)))
    assert type(back) is QuotaExceeded and back.limit == 7 and str(back) == "over the quota of 7"

    class Renamed(CoagentError):
        code = "test_renamed"

        def __init__(self, who: str) -> None:
            super().__init__(f"{who} was renamed", who=who)
            self.who = who

        @classmethod
        def from_wire(cls, message: str, details: Mapping[str, Any]) -> Renamed:
            return cls(str(details.get("who", "?")))  # its own rule, through its constructor

    back = decode_error(*encode_error(Renamed("ada")))
    assert type(back) is Renamed and back.who == "ada" and str(back) == "ada was renamed"
