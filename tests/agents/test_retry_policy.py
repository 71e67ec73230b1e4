"""The model retry policy: tenacity underneath, the package's one backoff formula, deadlines kept."""

from __future__ import annotations

import time

import pytest

from coagent.agents.errors import BadModelRequest, ModelUnavailable, RateLimited
from coagent.agents.retry import RETRY_JITTER, call_with_retries, retry_delay
from coagent.supervision import backoff_delay


def test_a_retry_waits_as_long_as_the_provider_asks() -> None:
    assert retry_delay(RateLimited("busy", retry_after=2.5), 1, 0.5, 8.0) == 2.5
    assert retry_delay(RateLimited("busy", retry_after=-1), 1, 0.5, 8.0) == 0.0


@pytest.mark.parametrize("retry", [1, 2, 3, 6, 40])
def test_without_retry_after_the_delay_follows_the_one_backoff_formula(retry: int) -> None:
    ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
    for _ in range(200):
        delay = retry_delay(ModelUnavailable("down"), retry, 0.5, 8.0)
        assert ceiling * (1 - RETRY_JITTER) <= delay <= ceiling
    # Session restarts use the same function, with their own bounds and jitter.
    assert backoff_delay(retry, 0.5, 8.0, 0.0) == ceiling


async def test_transient_errors_are_retried_until_the_retries_run_out() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise ModelUnavailable(f"down #{calls}")

    with pytest.raises(ModelUnavailable, match="down #3"):
        await call_with_retries(attempt, retries=2, backoff_min=0.001, backoff_max=0.002,
                                deadline=None)
    assert calls == 3


async def test_a_transient_error_followed_by_success_returns_the_result() -> None:
    outcomes: list[Exception | str] = [RateLimited("busy", retry_after=0.0), "ok"]

    async def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await call_with_retries(attempt, retries=3, backoff_min=0.001, backoff_max=0.01,
                                   deadline=None) == "ok"


async def test_errors_that_will_not_change_are_not_retried() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise BadModelRequest("unknown model")

    with pytest.raises(BadModelRequest):
        await call_with_retries(attempt, retries=5, backoff_min=0.001, backoff_max=0.01,
                                deadline=None)
    assert calls == 1


async def test_a_retry_that_would_end_past_the_deadline_is_not_made() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise RateLimited("busy", retry_after=5.0)

    started = time.monotonic()
    with pytest.raises(RateLimited):
        await call_with_retries(attempt, retries=3, backoff_min=0.001, backoff_max=0.01,
                                deadline=time.monotonic() + 1.0)
    assert calls == 1 and time.monotonic() - started < 0.5


async def test_no_retries_means_one_attempt_and_no_tenacity() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise ModelUnavailable("down")

    with pytest.raises(ModelUnavailable):
        await call_with_retries(attempt, retries=0, backoff_min=0.5, backoff_max=8.0, deadline=None)
    assert calls == 1
