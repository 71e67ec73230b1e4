"""``DeadlineWheel``: the one deadline mechanism of a node, for every path and transport.

::

    wheel = DeadlineWheel(loop)
    handle = wheel.at(loop.time() + 5.0, fail_call, call)   # fail_call(call) in 5 s ...
    handle.cancel()                                         # ... unless answered first

Every call in flight, local or remote, caller side or serving side, registers its
deadline here, so ``ctx.remaining()`` and expiry behave the same whichever
transport carried the call. Deadlines are grouped in slots of ``tick`` seconds,
each slot fired by one loop timer, so a call costs a set insert and removal
instead of a loop timer of its own.

Why not ``loop.call_at`` per call (``benchmarks/deadlines.py``, 200,000 set+cancel
pairs with 60 s deadlines, on the loaded 2-core project machine): a loop timer costs
1.6-3.3 us per call (a ``TimerHandle`` copies the context, and cancelled handles stay
in the heap until the loop rebuilds it) against 0.46-1.0 us here (2-6.5x); at the
30,000 calls/s of the concurrent NATS benchmark that is 5-8% of a core. A deadline
less than ``precise_within`` (2 s) away gets a loop timer of its own instead: it
fires exactly on time, so a caller's deadline still wins the tie against a handler
that times itself out by ``ctx.remaining()`` (a model call bounded by the caller's
deadline reports ``DeadlineExceeded`` to the caller, not its own timeout). Longer
deadlines (the 60 s default of most calls) are at most ``tick`` (5 ms) late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DeadlineWheel", "Deadline", "Cancellable"]


class Cancellable(Protocol):
    """What :meth:`DeadlineWheel.at` returns: ``cancel()`` forgets the deadline."""

    def cancel(self) -> None: ...


class Deadline:
    """One registered deadline; :meth:`cancel` forgets it (idempotent)."""

    __slots__ = ("args", "callback", "slot", "when")

    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...],
                 slot: set[Deadline]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.slot: set[Deadline] | None = slot

    def cancel(self) -> None:
        slot = self.slot
        if slot is not None:
            self.slot = None
            slot.discard(self)


class DeadlineWheel:
    """Callbacks at absolute ``loop.time()`` deadlines, in slots of ``tick`` seconds."""

    __slots__ = ("_loop", "_slots", "precise_within", "tick")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, tick: float = 0.005,
                 precise_within: float = 2.0) -> None:
        self._loop = loop
        self.tick = tick
        self.precise_within = precise_within
        self._slots: dict[int, set[Deadline]] = {}

    def at(self, when: float, callback: Callable[..., None], *args: Any) -> Cancellable:
        """Run ``callback(*args)`` once ``when`` has passed (on time when it is near)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if when - loop.time() < self.precise_within:
            return loop.call_at(when, callback, *args)
        key = int(when / self.tick) + 1
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = set()
            loop.call_at(key * self.tick, self._fire, key)
        entry = Deadline(when, callback, args, slot)
        slot.add(entry)
        return entry

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run on ``loop`` from now on (a node binds its wheel when it starts)."""
        if loop is not self._loop:
            self.close()
            self._loop = loop

    def __len__(self) -> int:
        return sum(len(slot) for slot in self._slots.values())

    def _fire(self, key: int) -> None:
        slot = self._slots.pop(key, None)
        if not slot:
            return
        for entry in list(slot):
            entry.slot = None
            try:
                entry.callback(*entry.args)
            except Exception:  # one failing expiry must not stop the rest
                loop = self._loop
                assert loop is not None
                loop.call_exception_handler({
                    "message": "a deadline callback failed", "exception": _last_exception(),
                })
        slot.clear()

    def close(self) -> None:
        """Forget every pending deadline (the node is stopping)."""
        for slot in self._slots.values():
            for entry in slot:
                entry.slot = None
            slot.clear()
        self._slots.clear()


def _last_exception() -> BaseException | None:
    import sys

    return sys.exc_info()[1]
