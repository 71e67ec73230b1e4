"""``DeadlineWheel``: the one deadline mechanism of a node, for every path and transport.

::

    wheel = DeadlineWheel(loop)
    handle = wheel.at(loop.time() + 5.0, fail_call, call)   # fail_call(call) in 5 s ...
    handle.cancel()                                         # ... unless answered first

Every call in flight, local or remote, caller side or serving side, registers its
deadline here, so ``ctx.remaining()`` and expiry behave the same whichever
transport carried the call. Deadlines are grouped in slots of ``tick`` seconds,
and the wheel holds one loop timer, armed for its earliest slot, so a call costs
a set insert and removal instead of a loop timer of its own, and a node with
calls in flight keeps one timer, not one per slot.

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
import heapq
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
    """Callbacks at absolute ``loop.time()`` deadlines, in slots of ``tick`` seconds.

    One loop timer at most, armed for the earliest slot that still holds a deadline:
    slots whose calls were all answered are dropped when the timer passes them (or
    when they pile up, see ``_compact``) instead of each keeping a timer of its own.
    """

    __slots__ = ("_armed", "_keys", "_loop", "_mark", "_slots", "_timer", "precise_within", "tick")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, tick: float = 0.005,
                 precise_within: float = 2.0) -> None:
        self._loop = loop
        self.tick = tick
        self.precise_within = precise_within
        self._slots: dict[int, set[Deadline]] = {}
        #: Keys of ``_slots`` as a min-heap (a key may be stale: its slot already fired).
        self._keys: list[int] = []
        #: The slot key the one timer is armed for (``0``: no timer).
        self._armed = 0
        self._timer: asyncio.TimerHandle | None = None
        self._mark = 0  # how many slots there were after the last compaction

    def at(self, when: float, callback: Callable[..., None], *args: Any) -> Cancellable:
        """Run ``callback(*args)`` once ``when`` has passed (on time when it is near)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if when - loop.time() < self.precise_within:
            return loop.call_at(when, callback, *args)
        key = int(when / self.tick) + 1
        slots = self._slots
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = set()
            heapq.heappush(self._keys, key)
            if not self._armed or key < self._armed:
                self._arm(key)
            if len(slots) > 2 * self._mark + 1024:
                self._compact()
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

    @property
    def timers(self) -> int:
        """Loop timers this wheel holds now (0 or 1, whatever the number of deadlines)."""
        return 0 if self._timer is None else 1

    def _arm(self, key: int) -> None:
        loop = self._loop
        assert loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._armed = key
        self._timer = loop.call_at(key * self.tick, self._fire)

    def _fire(self) -> None:
        loop = self._loop
        assert loop is not None
        self._timer = None
        # Due: the slot armed for (the loop may run a timer up to its clock resolution
        # early) and every slot whose time has come.
        due = max(self._armed, int(loop.time() / self.tick))
        self._armed = 0
        slots, keys = self._slots, self._keys
        while keys:
            key = keys[0]
            slot = slots.get(key)
            if slot is None:  # a stale key: its slot fired or was compacted away
                heapq.heappop(keys)
                continue
            if key > due:
                if slot:
                    break
                # Every call of this future slot was answered: drop it now, not when due.
                heapq.heappop(keys)
                del slots[key]
                continue
            heapq.heappop(keys)
            del slots[key]
            for entry in list(slot):
                entry.slot = None
                try:
                    entry.callback(*entry.args)
                except Exception:  # one failing expiry must not stop the rest
                    loop.call_exception_handler({
                        "message": "a deadline callback failed", "exception": _last_exception(),
                    })
            slot.clear()
        if keys:
            self._arm(keys[0])

    def _compact(self) -> None:
        # Answered calls leave empty slots behind until the timer passes them; at the
        # 60 s default and a steady load that is one per tick for a minute. Dropping
        # them when they have doubled costs O(1) per slot made.
        slots = self._slots = {key: slot for key, slot in self._slots.items() if slot}
        self._keys = sorted(slots)  # a sorted list is a heap
        self._mark = len(slots)
        if not self._keys:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
            self._armed = 0
        elif self._keys[0] != self._armed:
            self._arm(self._keys[0])

    def close(self) -> None:
        """Forget every pending deadline (the node is stopping)."""
        for slot in self._slots.values():
            for entry in slot:
                entry.slot = None
            slot.clear()
        self._slots.clear()
        self._keys.clear()
        self._mark = 0
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._armed = 0


def _last_exception() -> BaseException | None:
    import sys

    return sys.exc_info()[1]
