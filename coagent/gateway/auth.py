"""Bearer tokens: which ones the gateway accepts, checked in constant time.

::

    tokens = Tokens.from_file("tokens.txt")     # one token a line; '#' starts a comment
    tokens = Tokens(["s3cret"])
    tokens.check("Bearer s3cret")               # 0: the index of the token that matched
    tokens.check("Bearer nope")                 # raises Unauthorized
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from pathlib import Path

from coagent.gateway.errors import Unauthorized

__all__ = ["Tokens", "TokenFileError"]


class TokenFileError(ValueError):
    """An ``--auth-file`` that cannot be read or holds no token."""


class Tokens:
    """The tokens a gateway accepts (at least one)."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens]
        if not self._tokens:
            raise ValueError("give at least one token")
        if any(not t or any(c in t for c in b" \t\r\n") for t in self._tokens):
            raise ValueError("a token must be non-empty and contain no whitespace")

    @classmethod
    def from_file(cls, path: str | Path) -> Tokens:
        """One token a line; blank lines and lines starting with ``#`` are skipped."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenFileError(f"cannot read the token file {path}: {exc.strerror}") from None
        tokens = [line.strip() for line in text.splitlines()]
        tokens = [t for t in tokens if t and not t.startswith("#")]
        if not tokens:
            raise TokenFileError(f"the token file {path} holds no token")
        try:
            return cls(tokens)
        except ValueError as exc:
            raise TokenFileError(f"{path}: {exc}") from None

    def __len__(self) -> int:
        return len(self._tokens)

    def check(self, authorization: str | None) -> int:
        """The index of the token in ``Authorization: Bearer <token>``; ``Unauthorized`` if none.

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
        return found
