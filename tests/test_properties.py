"""Property tests: mailbox ordering under random interleavings, restart bookkeeping."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from coagent import Actor, Address, Context, handler
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.supervision.intensity import RestartIntensity, backoff_delay
from tests.kit import Note, Ping, Pong


class Log(Actor):
    def __init__(self) -> None:
        self.got: list[str] = []
        self.running = 0
        self.overlaps = 0

    @handler
    async def note(self, msg: Note, ctx: Context) -> None:
        self.running += 1
        self.overlaps += self.running > 1
        await asyncio.sleep(0)
        self.got.append(msg.text)
        self.running -= 1

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        return Pong(n=len(self.got))


@settings(max_examples=40, deadline=None)
@given(
    plan=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=60),
    capacity=st.sampled_from([0, 1, 4]),
)
def test_each_session_sees_its_senders_messages_in_order(plan, capacity) -> None:
    """Messages from one sender to one session arrive in send order, one handler at a time."""

    async def scenario() -> None:
        async with LocalRuntime() as rt:
            await rt.register(AgentSpec("log", new(Log), mailbox_size=capacity))
            sent: dict[tuple[int, int], list[str]] = {}

            async def sender(who: int) -> None:
                for i, (session, pause) in enumerate(p for p in plan if p[0] % 2 == who % 2):
                    text = f"{who}:{i}"
                    sent.setdefault((who, session), []).append(text)
                    await rt.tell(Address("log", f"s{session}"), Note(text=text), timeout=5)
                    for _ in range(pause):
                        await asyncio.sleep(0)

            await asyncio.gather(*(sender(w) for w in range(2)))
            for session in range(4):
                await rt.ask(Address("log", f"s{session}"), Ping())
            for (who, session), texts in sent.items():
                actor = rt.supervisor("log").sessions[f"s{session}"].instance
                mine = [t for t in actor.got if t.startswith(f"{who}:")]  # type: ignore[union-attr]
                assert mine == texts
                assert actor.overlaps == 0  # type: ignore[union-attr]

    asyncio.run(scenario())


@given(
    max_restarts=st.integers(0, 5),
    period=st.floats(0.5, 10),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=30),
)
def test_restart_intensity_matches_a_sliding_window(max_restarts, period, gaps) -> None:
    intensity = RestartIntensity(max_restarts, period)
    now = 0.0
    times: list[float] = []
    for gap in gaps:
        now += gap
        times.append(now)
        in_window = [t for t in times if t >= now - period]
        assert intensity.add(now) == (len(in_window) > max_restarts)


@given(attempt=st.integers(1, 40), low=st.floats(0.001, 1), high=st.floats(1, 30), jitter=st.floats(0, 1))
def test_backoff_stays_within_bounds(attempt, low, high, jitter) -> None:
    delay = backoff_delay(attempt, low, high, jitter)
    ideal = min(high, low * 2 ** (attempt - 1))
    assert ideal * (1 - jitter) - 1e-9 <= delay <= ideal + 1e-9
