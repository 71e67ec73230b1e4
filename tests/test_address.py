from __future__ import annotations

import pickle
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coagent import Address
from coagent.errors import CoagentError, InvalidAddress

TOKEN_CHARS = string.ascii_letters + string.digits + "_-"
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
names = st.lists(tokens, min_size=1, max_size=4).map(".".join)
sessions = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=128)


@given(names, sessions)
def test_valid_addresses_round_trip(name: str, session: str) -> None:
    addr = Address(name, session)
    assert (addr.name, addr.session) == (name, session)
    assert Address.parse(str(addr)) == addr
    assert pickle.loads(pickle.dumps(addr)) == addr
    assert hash(Address(name, session)) == hash(addr)


@pytest.mark.parametrize("session", [">", "*", "a b", "", "a.b", "x" * 129, "ü", "a\n", "a:b"])
def test_hostile_sessions_are_rejected(session: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        Address("echo", session)
    assert "session" in str(info.value)
    assert isinstance(info.value, CoagentError)


@pytest.mark.parametrize("name", [">", "*", "a..b", ".a", "a.", "a b", "", "team.>", "a*", "x" * 256])
def test_hostile_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidAddress):
        Address(name, "s1")


@given(st.text(max_size=40), st.text(max_size=40))
def test_anything_else_is_rejected_or_valid(name: str, session: str) -> None:
    try:
        addr = Address(name, session)
    except InvalidAddress:
        return
    # whatever was accepted contains no wildcard, whitespace or empty token
    for part in addr.name.split("."):
        assert part and set(part) <= set(TOKEN_CHARS)
    assert set(addr.session) <= set(TOKEN_CHARS)


def test_non_strings_are_rejected() -> None:
    with pytest.raises(InvalidAddress):
        Address(None, "s")  # type: ignore[arg-type]
    with pytest.raises(InvalidAddress):
        Address("a", 3)  # type: ignore[arg-type]


def test_address_is_immutable_and_helpers() -> None:
    addr = Address("team", "s1")
    with pytest.raises(AttributeError):
        addr.name = "x"  # type: ignore[misc]
    assert addr.child("billing") == Address("team.billing", "s1")
    assert Address("team.billing", "s").namespace == "team"
    assert Address.parse("echo") == Address("echo", "default")
