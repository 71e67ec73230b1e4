"""Restart intensity (OTP's MaxR/MaxT) and the package's one backoff formula.

::

    backoff_delay(3, 0.01, 1.0, 0.1)   # 0.04 s shortened by up to 10 %: 0.036-0.04

Session restarts and model retries (:mod:`coagent.agents.retry`) both use it.
"""

from __future__ import annotations

import random
import time
from collections import deque

__all__ = ["RestartIntensity", "backoff_delay"]


class RestartIntensity:
    """Counts restarts in a sliding window; ``add()`` says when the limit is passed.

    As in OTP, the restart that makes the count exceed ``max_restarts`` within
    ``period`` seconds is refused: ``max_restarts=3`` allows three, refuses the fourth.
    """

    __slots__ = ("_times", "max_restarts", "period")

    def __init__(self, max_restarts: int, period: float) -> None:
        self.max_restarts = max_restarts
        self.period = period
        self._times: deque[float] = deque()

    def add(self, now: float | None = None) -> bool:
        """Record a restart; ``True`` if that exceeds the intensity."""
        now = time.monotonic() if now is None else now
        times = self._times
        times.append(now)
        horizon = now - self.period
        while times and times[0] < horizon:
            times.popleft()
        return len(times) > self.max_restarts

    @property
    def recent(self) -> int:
        """Restarts recorded within the current window."""
        horizon = time.monotonic() - self.period
        return sum(1 for t in self._times if t >= horizon)


def backoff_delay(attempt: int, minimum: float, maximum: float, jitter: float) -> float:
    """Exponential delay for the ``attempt``-th restart in a window (1-based).

    ``minimum * 2**(attempt-1)`` capped at ``maximum``, then shortened by up to
    ``jitter`` (a fraction) so that many sessions do not retry in lockstep.
    """
    if minimum <= 0 or attempt <= 0:
        return 0.0
    delay = min(maximum, minimum * 2.0 ** min(attempt - 1, 64))  # 2.0**1024 overflows
    if jitter:
        delay *= 1.0 - random.random() * jitter
    return delay
