"""Bookkeeping of the gateway: calls in flight (to cancel them) and idempotent tells.

::

    calls = Calls()
    with calls.track(caller="", call_id="c1") as call:   # the running request's task
        ...                                             # calls.cancel(0, "c1") cancels it
    keys = IdempotencyKeys(window=3600)
    first = await keys.begin(0, "key-1", fingerprint=b"...")   # None: deliver it
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from coagent.gateway.errors import BadRequest, IdempotencyKeyReused

__all__ = ["Calls", "Call", "IdempotencyKeys", "validate_call_id", "CallState"]

CallState = Literal["cancelled", "finished", "unknown"]

_MAX_ID = 128
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def validate_call_id(call_id: str) -> str:
    """A call id is 1-128 characters of ``[A-Za-z0-9_-]`` (``BadRequest`` otherwise)."""
    if not call_id or len(call_id) > _MAX_ID or not _ID_CHARS.issuperset(call_id):
        raise BadRequest(f"invalid call id {call_id!r}: expected 1-128 characters of [A-Za-z0-9_-]")
    return call_id


class Call:
    """One call in flight: the request's task, and whether an explicit cancel hit it."""

    __slots__ = ("cancelled", "task")

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        self.cancelled = False


class Calls:
    """Calls in flight by ``(caller, call id)``, and how recent ones ended (for idempotent cancels)."""

    def __init__(self, remember: int = 10_000) -> None:
        self._live: dict[tuple[str, str], Call] = {}
        self._ended: OrderedDict[tuple[str, str], CallState] = OrderedDict()
        self._remember = remember
        self._prefix = secrets.token_hex(6)
        self._counter = 0

    def new_id(self) -> str:
        """A fresh call id; unguessable (its prefix is random per gateway) and cheap to make."""
        self._counter += 1
        return f"{self._prefix}{self._counter:x}"

    def __len__(self) -> int:
        return len(self._live)

    @contextmanager
    def track(self, caller: str, call_id: str) -> Iterator[Call]:
        key = (caller, call_id)
        if key in self._live:
            raise BadRequest(f"a call with id {call_id!r} is already in flight")
        call = Call(asyncio.current_task())
        self._live[key] = call
        try:
            yield call
        finally:
            del self._live[key]
            self._ended[key] = "cancelled" if call.cancelled else "finished"
            if len(self._ended) > self._remember:
                self._ended.popitem(last=False)

    def cancel(self, caller: str, call_id: str) -> CallState:
        """Cancel the call (its handler is cancelled too); asking again gives the same answer."""
        key = (caller, call_id)
        call = self._live.get(key)
        if call is not None:
            if not call.cancelled:
                call.cancelled = True
                if call.task is not None:
                    call.task.cancel()
            return "cancelled"
        return self._ended.get(key, "unknown")


class IdempotencyKeys:
    """``Idempotency-Key``s seen within ``window`` seconds (at most ``max_keys``, oldest dropped).

    A key is scoped to its caller (the identity of its token), and remembers a fingerprint of
    the address and body: the same key with another request is an error, not a replay.
    """

    def __init__(self, window: float = 3600.0, max_keys: int = 100_000) -> None:
        self.window = window
        self.max_keys = max_keys
        self._seen: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._pending: dict[tuple[str, str], tuple[bytes, asyncio.Future[bool]]] = {}

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            expires = next(iter(seen.values()))[0]
            if expires > now and len(seen) <= self.max_keys:
                break
            seen.popitem(last=False)

    async def begin(self, caller: str, key: str, fingerprint: bytes) -> bool:
        """``True`` if this request is a replay (do not deliver); ``False``: deliver, then :meth:`end`."""
        if not key or len(key) > 255 or not key.isprintable():
            raise BadRequest("Idempotency-Key must be 1-255 printable characters")
        ident = (caller, key)
        while True:
            now = time.monotonic()
            self._expire(now)
            seen = self._seen.get(ident)
            if seen is not None:
                if seen[1] != fingerprint:
                    raise IdempotencyKeyReused(
                        f"Idempotency-Key {key!r} was used with another address or body", key=key,
                    )
                return True
            pending = self._pending.get(ident)
            if pending is None:
                self._pending[ident] = (fingerprint, asyncio.get_running_loop().create_future())
                return False
            if pending[0] != fingerprint:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} is in use with another address or body", key=key,
                )
            # The same request is being delivered right now: its outcome decides this one.
            await asyncio.shield(pending[1])

    def end(self, caller: str, key: str, delivered: bool) -> None:
        """Record the outcome of a delivery begun with :meth:`begin`; failed ones may be retried."""
        ident = (caller, key)
        fingerprint, fut = self._pending.pop(ident)
        if delivered:
            self._seen[ident] = (time.monotonic() + self.window, fingerprint)
        if not fut.done():
            fut.set_result(delivered)

    def __len__(self) -> int:
        return len(self._seen)
