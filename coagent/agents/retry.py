"""Retrying transient model failures: one policy, on tenacity.

::

    raw = await call_with_retries(
        lambda: litellm.acompletion(**params), retries=2, backoff_min=0.5, backoff_max=8.0,
        deadline=time.monotonic() + 30,
    )

Only transient errors are retried (``RateLimited``, ``ModelTimeout``,
``ModelUnavailable``; the attempt raises them already typed). The delay before
retry *n* is the provider's ``Retry-After`` when it sent one, else the package's one
backoff formula (:func:`coagent.supervision.backoff_delay`, the one session restarts
use) with jitter in its upper half. A retry whose delay would end past ``deadline``
is not made: the last error is raised instead.

tenacity is imported with litellm (in the same worker thread, where it adds about
90 ms to litellm's seconds), and never when ``retries`` is 0.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from coagent.agents.errors import TRANSIENT
from coagent.supervision import backoff_delay

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["call_with_retries", "retry_delay", "RETRY_JITTER"]

T = TypeVar("T")

#: Fraction of each backoff delay that is random (the delay lies in its upper half).
RETRY_JITTER = 0.5


def retry_delay(error: BaseException, retry: int, backoff_min: float, backoff_max: float) -> float:
    """Seconds before retry number ``retry`` (1-based) of ``error``."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, (int, float)) and not isinstance(retry_after, bool):
        return max(0.0, float(retry_after))
    return backoff_delay(retry, backoff_min, backoff_max, RETRY_JITTER)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]], *, retries: int, backoff_min: float,
    backoff_max: float, deadline: float | None,
) -> T:
    """``await attempt()``, retried up to ``retries`` times on transient errors."""
    if retries <= 0:
        return await attempt()
    import tenacity

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        assert error is not None  # only failed attempts are retried
        return retry_delay(error, state.attempt_number, backoff_min, backoff_max)

    class past_deadline(tenacity.stop.stop_base):  # named as tenacity names its stops
        def __call__(self, state: RetryCallState) -> bool:
            # tenacity computes the wait before it asks the stop condition.
            return deadline is not None and time.monotonic() + state.upcoming_sleep >= deadline

    retrying: Any = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, TRANSIENT)),
        wait=wait,
        stop=tenacity.stop_any(tenacity.stop_after_attempt(retries + 1), past_deadline()),
        reraise=True,
    )
    result: T = await retrying(attempt)
    return result
