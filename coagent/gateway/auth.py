"""Bearer tokens: which ones the gateway accepts, checked in constant time, and who sent them.

::

    tokens = Tokens.from_file("tokens.txt")     # a token a line, optionally its user: "s3cret alice"
    tokens = Tokens(["s3cret"], users={"s3cret": "alice"})
    tokens.check("Bearer s3cret")               # "alice": the caller's identity
    Tokens(["t0k3n"]).check("Bearer t0k3n")     # "token-4b1b...": a digest of an unnamed token
    tokens.check("Bearer nope")                 # raises Unauthorized

The identity is what scopes a caller's call ids and ``Idempotency-Key``s and what makes
an A2A user, so it must not change when the token file does: it is the user a line names,
else a digest of the token, never the line's position (a reordered or extended file keeps
every identity, and with it the message ids a retried tell is recognised by).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from coagent.gateway.errors import Unauthorized

__all__ = ["Tokens", "TokenFileError", "token_identity"]

#: What a user name in a token file may be (it is a caller's identity and an A2A user name).
_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
#: Identities of unnamed tokens start so; a user name may not (they would collide).
_DIGEST_PREFIX = "token-"


class TokenFileError(ValueError):
    """An ``--auth-file`` that cannot be read, holds no token, or has a malformed line."""


def token_identity(token: str) -> str:
    """The identity of a token no user name is given for: ``token-`` and 16 hex digits of its
    SHA-256 (the token itself is never the identity: identities reach logs and A2A users)."""
    return _DIGEST_PREFIX + hashlib.sha256(token.encode()).hexdigest()[:16]


class Tokens:
    """The tokens a gateway accepts (at least one), each with its caller's identity.

    Args:
        tokens: the accepted tokens (non-empty, no whitespace).
        users: the user name of some of them (``[A-Za-z0-9_.@-]{1,64}``); several tokens may
            name one user (a rotation: the old and the new token are the same caller).
    """

    __slots__ = ("_identities", "_tokens")

    def __init__(self, tokens: Iterable[str], *, users: Mapping[str, str] | None = None) -> None:
        listed = list(tokens)
        self._tokens = [t.encode() for t in listed]
        if not self._tokens:
            raise ValueError("give at least one token")
        if any(not t or any(c in t for c in b" \t\r\n") for t in self._tokens):
            raise ValueError("a token must be non-empty and contain no whitespace")
        users = users or {}
        unknown = set(users) - set(listed)
        if unknown:
            raise ValueError(f"{len(unknown)} user name(s) given for tokens not in the list")
        for user in users.values():
            if not _USER.fullmatch(user) or user.startswith(_DIGEST_PREFIX):
                raise ValueError(f"user name {user!r} must match [A-Za-z0-9_.@-]{{1,64}} and not start"
                                 f" with {_DIGEST_PREFIX!r}")
        self._identities = [users.get(t) or token_identity(t) for t in listed]

    @classmethod
    def from_file(cls, path: str | Path) -> Tokens:
        """A token a line, optionally followed by its user's name (``s3cret-1 alice``); blank
        lines and lines starting with ``#`` are skipped."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenFileError(f"cannot read the token file {path}: {exc.strerror}") from None
        tokens: list[str] = []
        users: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) > 2:
                raise TokenFileError(f"{path}, line {number}: expected 'TOKEN' or 'TOKEN USER',"
                                     f" got {len(fields)} fields")
            token = fields[0]
            if len(fields) == 2:
                if users.get(token, fields[1]) != fields[1]:
                    raise TokenFileError(f"{path}, line {number}: this token names another user above")
                users[token] = fields[1]
            tokens.append(token)
        if not tokens:
            raise TokenFileError(f"the token file {path} holds no token")
        try:
            return cls(tokens, users=users)
        except ValueError as exc:
            raise TokenFileError(f"{path}: {exc}") from None

    def __len__(self) -> int:
        return len(self._tokens)

    def check(self, authorization: str | None) -> str:
        """The identity of the caller of ``Authorization: Bearer <token>``; ``Unauthorized`` if
        the token is not accepted.

        Every accepted token is compared (``hmac.compare_digest``), so the time taken says
        nothing about which token, or how much of one, matched.
        """
        if not authorization:
            raise Unauthorized("this gateway needs 'Authorization: Bearer <token>'")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        candidate = given.strip().encode()
        found = -1
        for index, token in enumerate(self._tokens):
            if hmac.compare_digest(candidate, token) and found < 0:
                found = index
        if found < 0:
            raise Unauthorized("the token is not accepted by this gateway")
        return self._identities[found]
