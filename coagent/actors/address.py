"""Addresses: where a message goes.

An address names an agent type and one of its sessions::

    Address("team.billing", "user-42")

Names are dot-separated tokens of ``[A-Za-z0-9_-]`` (dots are namespaces);
sessions are ``[A-Za-z0-9_-]{1,128}``. Anything else is rejected at
construction with :class:`~coagent.errors.InvalidAddress`, so no wildcard or
whitespace can ever reach a transport subject.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from coagent.errors import InvalidAddress

__all__ = ["Address", "validate_name", "validate_session", "new_session_id"]

_TOKEN = r"[A-Za-z0-9_-]+"
_NAME_RE: Final = re.compile(rf"{_TOKEN}(?:\.{_TOKEN})*")
_SESSION_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_NAME_LENGTH: Final = 255


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid agent name, else raise ``InvalidAddress``."""
    if type(name) is not str or len(name) > MAX_NAME_LENGTH or _NAME_RE.fullmatch(name) is None:
        raise InvalidAddress(
            f"invalid agent name {name!r}: expected dot-separated tokens of [A-Za-z0-9_-]"
            f" (at most {MAX_NAME_LENGTH} characters)",
            name=repr(name),
        )
    return name


def validate_session(session: object) -> str:
    """Return ``session`` if it is a valid session id, else raise ``InvalidAddress``."""
    if type(session) is not str or _SESSION_RE.fullmatch(session) is None:
        raise InvalidAddress(
            f"invalid session id {session!r}: expected 1-128 characters of [A-Za-z0-9_-]",
            session=repr(session),
        )
    return session


def new_session_id() -> str:
    """A fresh, unique session id (32 hex characters)."""
    return uuid.uuid4().hex


class Address:
    """An immutable, validated ``(name, session)`` pair.

    >>> Address("echo", "s1")
    Address('echo', 's1')
    >>> Address("echo", ">")
    Traceback (most recent call last):
    ...
    coagent.errors.InvalidAddress: invalid session id '>': expected 1-128 characters of [A-Za-z0-9_-]
    """

    __slots__ = ("_hash", "name", "session")

    name: str
    session: str
    _hash: int

    def __init__(self, name: str, session: str = "default", *, id: str | None = None) -> None:
        # ``id=`` is the original Coagent's name for the session (``Address(name=..., id=...)``);
        # its empty id (a "factory" address) is our default session.
        if id is not None:
            session = id or "default"
        object.__setattr__(self, "name", validate_name(name))
        object.__setattr__(self, "session", validate_session(session))
        object.__setattr__(self, "_hash", hash((name, session)))

    @classmethod
    def _trusted(cls, name: str, session: str) -> Address:
        """Build without validation; only for parts that were validated already."""
        self = object.__new__(cls)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "_hash", hash((name, session)))
        return self

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse ``"name"`` or ``"name:session"`` (the CLI's form)."""
        name, sep, session = text.partition(":")
        return cls(name, session) if sep else cls(name)

    @property
    def id(self) -> str:
        """The session id under the original Coagent's name for it."""
        return self.session

    def child(self, name: str) -> Address:
        """The address of child ``name`` in the same session (``team`` -> ``team.a``)."""
        return Address(f"{self.name}.{name}", self.session)

    @property
    def namespace(self) -> str:
        """Everything before the last dot of the name (``""`` when there is none)."""
        return self.name.rpartition(".")[0]

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Address is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Address:
            return NotImplemented
        assert isinstance(other, Address)
        return self.name == other.name and self.session == other.session

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Address({self.name!r}, {self.session!r})"

    def __str__(self) -> str:
        return f"{self.name}:{self.session}"

    def __reduce__(self) -> tuple[type[Address], tuple[str, str]]:
        return (Address, (self.name, self.session))
