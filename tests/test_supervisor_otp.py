"""Erlang/OTP's supervisor_SUITE, ported to coagent's ``Supervisor`` actor.

Each test builds a ``team`` agent whose session actor is a ``Supervisor`` with
static children (``Stateful`` from tests/kit.py) and checks, as OTP does:

* which children a strategy restarts for each restart type and exit kind
  (a fresh instance answers ``Pong(n=1)``, an untouched one keeps counting);
* the order in which children are stopped (reverse start order) and started
  (start order), read from ``Stateful.events``;
* restart intensity (``max_restarts`` in ``period``) and escalation, through
  the session supervisor and through a nested ``Supervisor``;
* start failures, restart failures, and shutdown order and timeouts;
* that no call ever hangs (every call has a deadline well below the test's).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from coagent.actors.address import Address
from coagent.errors import (
    AgentCrashed,
    AgentNotFound,
    AgentStopped,
    CoagentError,
    DeadlineExceeded,
    RestartLimitExceeded,
)
from coagent.supervision import AgentSpec, ChildSpec, Supervisor, new
from coagent.supervision.spec import RESTART_TYPES
from coagent.supervision.supervisor import STRATEGIES
from tests.kit import Crash, Ping, Pong, Sleep, Stateful, Stop

pytestmark = pytest.mark.timeout(15)

S = "s1"
T = 5  # seconds any single call may take; a test never waits on a hang longer than this


# --------------------------------------------------------------------------- actors


class OtpFlaky(Stateful):
    """A ``Stateful`` whose ``started()`` raises on the listed (1-based) starts.

    ``starts`` is a list shared by every instance made from one factory, so the
    count survives restarts.
    """

    def __init__(self, starts: list[int], fail_on: tuple[int, ...] = (1,)) -> None:
        super().__init__()
        self.starts = starts
        self.fail_on = fail_on

    async def started(self) -> None:
        self.starts.append(1)
        await super().started()
        if len(self.starts) in self.fail_on:
            raise RuntimeError(f"start #{len(self.starts)} fails")


class OtpAlwaysFails(Stateful):
    async def started(self) -> None:
        await super().started()
        raise RuntimeError("started() always fails")


class OtpSlowStop(Stateful):
    """``stopped()`` takes far longer than any shutdown timeout given to it."""

    async def stopped(self) -> None:
        await super().stopped()
        await asyncio.sleep(30)


# -------------------------------------------------------------------------- helpers


def kids(*names: str, **restart: str) -> list[ChildSpec]:
    """``kids("a", "b", "c", b="transient")``: Stateful children, permanent unless told."""
    return [ChildSpec(n, new(Stateful), restart=restart.get(n, "permanent")) for n in names]


def team(children: list[ChildSpec], strategy: str = "one_for_one", max_restarts: int = 3,
         period: float = 5.0, name: str = "team", **agent_kw) -> AgentSpec:
    return AgentSpec(name, new(Supervisor, children=children, strategy=strategy,
                               max_restarts=max_restarts, period=period), **agent_kw)


def addr(child: str | None, session: str = S, team_name: str = "team") -> Address:
    return Address(team_name if child is None else f"{team_name}.{child}", session)


async def ask(rt, child: str | None, msg, session: str = S):
    return await rt.ask(addr(child, session), msg, timeout=T)


async def pong(rt, child: str, session: str = S) -> int:
    reply = await ask(rt, child, Ping(), session)
    assert isinstance(reply, Pong)
    return reply.n


async def crash(rt, child: str, session: str = S) -> None:
    with pytest.raises(AgentCrashed):
        await ask(rt, child, Crash(text=f"crash {child}"), session)


async def stop(rt, child: str, session: str = S) -> None:
    assert await ask(rt, child, Stop(), session) is None


async def exit_child(rt, child: str, kind: str) -> None:
    if kind == "abnormal":
        await crash(rt, child)
    else:
        await stop(rt, child)


async def settle(rt, name: str = "team", session: str = S) -> None:
    """Wait until the session's supervisor has handled every exit it was told about."""
    deadline = time.monotonic() + T
    quiet = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.005)
        try:
            cell = rt.supervisor(name).sessions.get(session)
        except AgentNotFound:
            return
        if cell is None:
            return
        snap = await rt.tree()
        node = snap.find(name, session)
        busy = cell.busy or node is None or any(
            n.status in ("restarting", "stopping", "new") for n in node.walk()
        )
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            return
    raise AssertionError(f"{name}:{session} did not settle within {T}s")


def ev(kind: str, *names: str, team_name: str = "team", session: str = S) -> list[str]:
    return [f"{kind} {team_name}.{n}:{session}" for n in names]


def since(mark: int) -> list[str]:
    return Stateful.events[mark:]


async def node(rt, child: str | None, session: str = S):
    return (await rt.tree()).find("team" if child is None else f"team.{child}", session)


async def warm(rt, names, times: int = 2) -> None:
    """Ping every child ``times`` times so an untouched instance answers ``times + 1`` next."""
    for name in names:
        for i in range(times):
            assert await pong(rt, name) == i + 1


GROUP = {"one_for_one": ["b"], "one_for_all": ["a", "b", "c"], "rest_for_one": ["b", "c"]}


# ============================================================ start and basic shape


async def test_children_start_in_order_and_are_addressable_per_session(runtime):
    await runtime.register(team(kids("a", "b", "c")))
    assert await pong(runtime, "c") == 1  # the first message to any child starts the session
    assert Stateful.events == ev("started", "a", "b", "c")
    assert await pong(runtime, "a") == 1
    assert await pong(runtime, "a") == 2
    # another session has its own children
    assert await pong(runtime, "a", session="s2") == 1
    assert Stateful.events[3:] == ev("started", "a", "b", "c", session="s2")
    top = await node(runtime, None)
    assert [c.name for c in top.children] == ["team.a", "team.b", "team.c"]
    assert all(c.restarts == 0 for c in top.children)


async def test_unknown_child_is_not_found(runtime):
    await runtime.register(team(kids("a")))
    with pytest.raises(AgentNotFound):
        await ask(runtime, "nope", Ping())


@pytest.mark.parametrize("kwargs", [
    dict(children=kids("a"), strategy="simple_one_for_all"),
    dict(children=kids("a", "a")),
    dict(children=kids("a"), max_restarts=-1),
    dict(children=kids("a"), period=0),
    dict(children=kids("a"), period=-1.0),
], ids=["bad-strategy", "duplicate-names", "negative-intensity", "zero-period", "negative-period"])
def test_bad_supervisor_flags_are_rejected(kwargs):
    """OTP's supervisor refuses bad flags ({bad_intensity, _}, {bad_period, _}) at init."""
    with pytest.raises(ValueError):
        Supervisor(**kwargs)


def test_bad_child_spec_is_rejected():
    with pytest.raises(ValueError):
        ChildSpec("a", new(Stateful), restart="sometimes")
    with pytest.raises(TypeError):
        ChildSpec("a", object())


async def test_bad_supervisor_config_fails_the_call_without_hanging(runtime):
    await runtime.register(team(kids("a"), strategy="nope"))
    with pytest.raises(CoagentError) as info:
        await ask(runtime, "a", Ping())
    assert not isinstance(info.value, DeadlineExceeded)
    assert Stateful.events == []


async def test_caller_timeout_is_not_a_crash(runtime):
    """A call whose deadline passes cancels the handler; the child is not restarted."""
    await runtime.register(team(kids("a", "b"), "one_for_all", max_restarts=0))
    await warm(runtime, "ab", times=1)
    with pytest.raises(DeadlineExceeded):
        await runtime.ask(addr("a"), Sleep(seconds=5), timeout=0.05)
    await settle(runtime)
    assert await pong(runtime, "a") == 2
    assert await pong(runtime, "b") == 2
    assert (await node(runtime, "a")).restarts == 0


# ============================================= strategy x restart type x exit kind


@pytest.mark.parametrize("exit_kind", ["normal", "abnormal"])
@pytest.mark.parametrize("restart", RESTART_TYPES)
@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_exit_matrix(runtime, strategy, restart, exit_kind):
    """Children a, b, c; b (of the given restart type) exits; a and c are permanent."""
    await runtime.register(team(kids("a", "b", "c", b=restart), strategy))
    await warm(runtime, "abc")
    mark = len(Stateful.events)

    await exit_child(runtime, "b", exit_kind)
    await settle(runtime)

    restarted = restart == "permanent" or (restart == "transient" and exit_kind == "abnormal")
    group = GROUP[strategy] if restarted else []
    expected = (
        ev("stopped", "b")
        + ev("stopped", *[n for n in reversed(group) if n != "b"])
        + ev("started", *group)
    )
    assert since(mark) == expected

    top = await node(runtime, None)
    assert top.restarts == 0, "a child exit must not restart the supervisor itself"
    names = [c.name for c in top.children]
    if restart == "temporary":
        assert names == ["team.a", "team.c"], "an exited temporary child is removed"
    else:
        assert names == ["team.a", "team.b", "team.c"]
    for name in "ac":
        assert (await node(runtime, name)).restarts == (1 if name in group else 0)
    if restarted:
        assert (await node(runtime, "b")).restarts == 1
    elif restart == "transient":
        assert (await node(runtime, "b")).status == "stopped"

    for name in "ac":
        assert await pong(runtime, name) == (1 if name in group else 3), name
    if restarted:
        assert await pong(runtime, "b") == 1
    elif restart == "transient":
        for _ in range(2):  # stays terminated: a message does not bring it back
            with pytest.raises(AgentStopped):
                await ask(runtime, "b", Ping())
    else:
        for _ in range(2):
            with pytest.raises(AgentNotFound):
                await ask(runtime, "b", Ping())
    assert since(mark) == expected, "asking the children started nothing more"


@pytest.mark.parametrize("restart", RESTART_TYPES)
async def test_mail_queued_behind_an_exit(runtime, restart):
    """Mail already queued when a child exits goes to the fresh instance or fails at once."""
    await runtime.register(team(kids("a", "b", b=restart)))
    await warm(runtime, "ab", times=1)
    stopping = asyncio.ensure_future(ask(runtime, "b", Stop()))
    queued = [asyncio.ensure_future(ask(runtime, "b", Ping())) for _ in range(3)]
    assert await stopping is None
    results = await asyncio.gather(*queued, return_exceptions=True)
    if restart == "permanent":
        assert [r.n for r in results] == [1, 2, 3]
    else:
        assert all(isinstance(r, AgentStopped) for r in results), results
    assert await pong(runtime, "a") == 2


# ================================================================ group restarts


@pytest.mark.parametrize("strategy,crashing,group", [
    ("one_for_all", "c", ["a", "b", "c", "d"]),
    ("one_for_all", "a", ["a", "b", "c", "d"]),
    ("one_for_all", "d", ["a", "b", "c", "d"]),
    ("rest_for_one", "b", ["b", "c", "d"]),
    ("rest_for_one", "d", ["d"]),
    ("rest_for_one", "a", ["a", "b", "c", "d"]),
])
async def test_group_restart_order(runtime, strategy, crashing, group):
    """Others stop in reverse start order, then the group starts in start order."""
    await runtime.register(team(kids("a", "b", "c", "d"), strategy))
    await warm(runtime, "abcd", times=1)
    mark = len(Stateful.events)
    await crash(runtime, crashing)
    await settle(runtime)
    others = [n for n in reversed(group) if n != crashing]
    assert since(mark) == ev("stopped", crashing) + ev("stopped", *others) + ev("started", *group)
    for name in "abcd":
        assert await pong(runtime, name) == (1 if name in group else 2), name


@pytest.mark.parametrize("strategy,crashing,removed", [
    ("one_for_all", "b", True),
    ("one_for_all", "a", True),
    ("rest_for_one", "a", True),   # the temporary child comes after a
    ("rest_for_one", "b", False),  # ... and before b
    ("one_for_one", "a", False),
])
async def test_temporary_sibling_removed_by_group_restart(runtime, strategy, crashing, removed):
    await runtime.register(team(kids("a", "t", "b", t="temporary"), strategy))
    await warm(runtime, ["a", "t", "b"], times=1)
    mark = len(Stateful.events)
    await crash(runtime, crashing)
    await settle(runtime)
    names = [c.name for c in (await node(runtime, None)).children]
    if removed:
        assert names == ["team.a", "team.b"]
        assert "started team.t:s1" not in since(mark)
        assert "stopped team.t:s1" in since(mark)
        with pytest.raises(AgentNotFound):
            await ask(runtime, "t", Ping())
    else:
        assert names == ["team.a", "team.t", "team.b"]
        assert not [e for e in since(mark) if "team.t:" in e]
        assert await pong(runtime, "t") == 2
    assert await pong(runtime, crashing) == 1


@pytest.mark.parametrize("strategy,restarted", [
    ("one_for_all", True),
    ("rest_for_one", True),   # tr comes after the crashing child a
    ("one_for_one", False),
])
async def test_terminated_transient_child_restarted_by_later_group_restart(runtime, strategy, restarted):
    """OTP keeps a transient child that exited normally in its child list (pid undefined);
    a later one_for_all / rest_for_one restart covering it starts it again."""
    await runtime.register(team(kids("a", "tr", "c", tr="transient"), strategy))
    await warm(runtime, ["a", "tr", "c"], times=1)
    await stop(runtime, "tr")
    await settle(runtime)
    with pytest.raises(AgentStopped):
        await ask(runtime, "tr", Ping())
    mark = len(Stateful.events)
    await crash(runtime, "a")
    await settle(runtime)
    if restarted:
        # tr is not running, so only c needs stopping; then everything starts in order
        assert since(mark) == ev("stopped", "a") + ev("stopped", "c") + ev("started", "a", "tr", "c")
        assert await pong(runtime, "tr") == 1
        assert (await node(runtime, "tr")).status == "idle"
    else:
        assert since(mark) == ev("stopped", "a") + ev("started", "a")
        with pytest.raises(AgentStopped):
            await ask(runtime, "tr", Ping())
    assert await pong(runtime, "c") == (1 if restarted else 2)


@pytest.mark.parametrize("exit_kind", ["normal", "abnormal"])
@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_temporary_or_transient_exit_leaves_siblings_alone(runtime, strategy, exit_kind):
    """A child that is not restarted does not trigger the strategy (OTP: no restart, no group)."""
    restart = "temporary" if exit_kind == "abnormal" else "transient"
    await runtime.register(team(kids("a", "x", "c", x=restart), strategy))
    await warm(runtime, ["a", "x", "c"], times=1)
    mark = len(Stateful.events)
    await exit_child(runtime, "x", exit_kind)
    await settle(runtime)
    assert since(mark) == ev("stopped", "x")
    assert await pong(runtime, "a") == 2
    assert await pong(runtime, "c") == 2


async def test_busy_sibling_finishes_its_call_then_restarts(runtime):
    """A sibling in the middle of a call during a one_for_all restart is stopped after that
    call (it has ``shutdown`` seconds to finish it), then restarted; nothing hangs."""
    await runtime.register(team(kids("a", "b"), "one_for_all"))
    await warm(runtime, "ab", times=1)
    slow = asyncio.ensure_future(ask(runtime, "b", Sleep(seconds=0.2)))
    await asyncio.sleep(0.02)
    await crash(runtime, "a")
    assert await asyncio.wait_for(slow, T) == Pong(n=-1)
    await settle(runtime)
    assert await pong(runtime, "b") == 1
    assert await pong(runtime, "a") == 1


async def test_group_restart_kills_busy_sibling_after_its_shutdown_timeout(runtime):
    children = [ChildSpec("a", new(Stateful)), ChildSpec("b", new(Stateful), shutdown=0.1)]
    await runtime.register(team(children, "one_for_all"))
    await warm(runtime, "ab", times=1)
    slow = asyncio.ensure_future(ask(runtime, "b", Sleep(seconds=30)))
    await asyncio.sleep(0.02)
    t0 = time.monotonic()
    await crash(runtime, "a")
    with pytest.raises(AgentStopped):
        await asyncio.wait_for(slow, T)
    assert await pong(runtime, "b") == 1
    assert await pong(runtime, "a") == 1
    assert time.monotonic() - t0 < 1.0


async def test_group_restart_respects_shutdown_timeout_of_idle_sibling(runtime):
    """b is idle but its stopped() takes 30 s; ChildSpec(shutdown=0.1) bounds how long a
    one_for_all restart may wait for it (OTP: shutdown timeout, then brutal kill)."""
    children = [ChildSpec("a", new(Stateful)), ChildSpec("b", new(OtpSlowStop), shutdown=0.1)]
    await runtime.register(team(children, "one_for_all", shutdown_timeout=0.5))
    await warm(runtime, "ab", times=1)
    await crash(runtime, "a")
    try:
        assert (await runtime.ask(addr("a"), Ping(), timeout=1.5)).n == 1
    except DeadlineExceeded:
        pytest.fail("the one_for_all restart is still waiting for b's stopped() after 1.5 s:"
                    " ChildSpec(shutdown=0.1) was not enforced on an idle child")
    assert await pong(runtime, "b") == 1


# ============================================================ restart intensity


@pytest.mark.parametrize("exit_kind", ["normal", "abnormal"])
@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_intensity_allows_max_restarts_then_escalates(runtime, strategy, exit_kind):
    """max_restarts=2: two restarts are fine (a group restart counts once); the third
    exit makes the supervisor stop all children (reverse order) and escalate; the
    session actor is restarted per its AgentSpec and the children come back fresh."""
    await runtime.register(team(kids("a", "b", "c"), strategy, max_restarts=2))
    await warm(runtime, "abc", times=1)
    for i in range(2):
        await exit_child(runtime, "b", exit_kind)
        await settle(runtime)
        assert await pong(runtime, "b") == 1
        assert (await node(runtime, None)).restarts == 0, f"escalated after {i + 1} restart(s)"
    expected_a = 1 if strategy == "one_for_all" else 2
    assert await pong(runtime, "a") == expected_a
    mark = len(Stateful.events)

    await exit_child(runtime, "b", exit_kind)
    await settle(runtime)
    assert since(mark) == (
        ev("stopped", "b") + ev("stopped", "c", "a") + ev("started", "a", "b", "c")
    )
    top = await node(runtime, None)
    assert top.restarts == 1
    assert "RestartLimitExceeded" in (top.last_error or "")
    assert [c.restarts for c in top.children] == [0, 0, 0]
    for name in "abc":
        assert await pong(runtime, name) == 1


async def test_max_restarts_zero_escalates_on_first_exit(runtime):
    await runtime.register(team(kids("a", "b"), max_restarts=0))
    await warm(runtime, "ab", times=1)
    mark = len(Stateful.events)
    await crash(runtime, "b")
    await settle(runtime)
    assert since(mark) == ev("stopped", "b") + ev("stopped", "a") + ev("started", "a", "b")
    assert (await node(runtime, None)).restarts == 1
    assert await pong(runtime, "a") == 1


async def test_intensity_window_slides(runtime):
    """Restarts older than ``period`` no longer count."""
    await runtime.register(team(kids("a", "b"), max_restarts=1, period=0.3))
    await warm(runtime, "ab", times=1)
    await crash(runtime, "b")
    await settle(runtime)
    await asyncio.sleep(0.35)
    await crash(runtime, "b")  # the first restart has left the window
    await settle(runtime)
    assert (await node(runtime, None)).restarts == 0
    assert await pong(runtime, "a") == 2
    await crash(runtime, "b")  # two restarts within 0.3 s: too many
    await settle(runtime)
    assert (await node(runtime, None)).restarts == 1
    assert await pong(runtime, "a") == 1


async def test_transient_normal_and_temporary_exits_do_not_count(runtime):
    await runtime.register(team(kids("a", "tr", "tmp", tr="transient", tmp="temporary"),
                                "one_for_one", max_restarts=0))
    await warm(runtime, ["a", "tr", "tmp"], times=1)
    await stop(runtime, "tr")
    await crash(runtime, "tmp")
    await settle(runtime)
    assert (await node(runtime, None)).restarts == 0
    assert await pong(runtime, "a") == 2


async def test_calls_during_escalation_never_hang(runtime):
    await runtime.register(team(kids("a", "b", "c"), "one_for_all", max_restarts=0))
    await warm(runtime, "abc", times=1)
    crashing = asyncio.ensure_future(ask(runtime, "b", Crash()))
    calls = [asyncio.ensure_future(ask(runtime, n, Ping())) for n in "abcabc"]
    with pytest.raises(AgentCrashed):
        await crashing
    results = await asyncio.gather(*calls, return_exceptions=True)
    for r in results:
        assert isinstance(r, (Pong, AgentStopped)), r
    await settle(runtime)
    assert (await node(runtime, None)).restarts == 1
    # the new instances have seen at most the two pings per child sent above
    for name in "abc":
        assert 1 <= await pong(runtime, name) <= 3
    assert Stateful.events[-3:] == ev("started", "a", "b", "c")


async def test_escalation_with_temporary_session_drops_the_session(runtime):
    await runtime.register(team(kids("a", "b"), max_restarts=0, restart="temporary"))
    await warm(runtime, "ab", times=1)
    mark = len(Stateful.events)
    await crash(runtime, "b")
    await settle(runtime)
    assert (await runtime.tree()).find("team", S) is None, "the session is dropped"
    assert since(mark) == ev("stopped", "b") + ev("stopped", "a")
    assert runtime.supervisor("team").sessions.get(S) is None
    # the next message starts a brand new session
    assert await pong(runtime, "a") == 1
    assert since(mark)[2:] == ev("started", "a", "b")
    assert (await node(runtime, None)).restarts == 0


async def test_escalation_past_the_session_limit_refuses_the_session(runtime):
    """The session's own intensity (AgentSpec max_restarts=0) is passed too: it refuses
    messages for ``period`` seconds, then starts fresh."""
    spec = AgentSpec("team", new(Supervisor, children=kids("a", "b"), max_restarts=0),
                     max_restarts=0, period=0.3)
    await runtime.register(spec)
    await warm(runtime, "ab", times=1)
    mark = len(Stateful.events)
    await crash(runtime, "b")
    await settle(runtime)
    assert since(mark) == ev("stopped", "b") + ev("stopped", "a")
    with pytest.raises(RestartLimitExceeded):
        await ask(runtime, "a", Ping())
    await asyncio.sleep(0.35)
    assert await pong(runtime, "a") == 1


# ===================================================== nested supervisors


def nested(strategy: str = "one_for_one", outer_max: int = 3, inner_max: int = 1) -> AgentSpec:
    inner = new(Supervisor, children=kids("x", "y"), strategy="one_for_one", max_restarts=inner_max)
    return team([ChildSpec("a", new(Stateful)), ChildSpec("inner", inner), ChildSpec("c", new(Stateful))],
                strategy, max_restarts=outer_max)


async def test_nested_supervisor_children_are_addressable(runtime):
    await runtime.register(nested())
    assert await pong(runtime, "inner.y") == 1
    assert Stateful.events == ev("started", "a", "inner.x", "inner.y", "c")
    inner = await node(runtime, "inner")
    assert [c.name for c in inner.children] == ["team.inner.x", "team.inner.y"]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_escalation_through_nested_supervisor(runtime, strategy):
    """x crashes twice with inner max_restarts=1: the inner supervisor gives up, stops y,
    and escalates; the outer supervisor restarts it per its own strategy."""
    await runtime.register(nested(strategy))
    await warm(runtime, ["a", "inner.x", "inner.y", "c"], times=1)
    await crash(runtime, "inner.x")
    await settle(runtime)
    assert await pong(runtime, "inner.x") == 1
    assert await pong(runtime, "inner.y") == 2
    mark = len(Stateful.events)

    await crash(runtime, "inner.x")
    await settle(runtime)
    inner_restart = ev("stopped", "inner.x") + ev("stopped", "inner.y")
    if strategy == "one_for_all":
        expected = inner_restart + ev("stopped", "c", "a") + ev("started", "a", "inner.x", "inner.y", "c")
    elif strategy == "rest_for_one":
        expected = inner_restart + ev("stopped", "c") + ev("started", "inner.x", "inner.y", "c")
    else:
        expected = inner_restart + ev("started", "inner.x", "inner.y")
    assert since(mark) == expected
    assert (await node(runtime, "inner")).restarts == 1
    assert (await node(runtime, None)).restarts == 0
    assert await pong(runtime, "inner.x") == 1
    assert await pong(runtime, "inner.y") == 1
    assert await pong(runtime, "a") == (1 if strategy == "one_for_all" else 2)
    assert await pong(runtime, "c") == (2 if strategy == "one_for_one" else 1)


async def test_escalation_through_two_levels_restarts_the_session(runtime):
    await runtime.register(nested(outer_max=0, inner_max=0))
    await warm(runtime, ["a", "inner.x", "inner.y", "c"], times=1)
    mark = len(Stateful.events)
    await crash(runtime, "inner.y")
    await settle(runtime)
    assert since(mark) == (
        ev("stopped", "inner.y") + ev("stopped", "inner.x")      # inner gives up
        + ev("stopped", "c", "a")                                # outer gives up
        + ev("started", "a", "inner.x", "inner.y", "c")          # the session restarts
    )
    assert (await node(runtime, None)).restarts == 1
    for name in ["a", "inner.x", "inner.y", "c"]:
        assert await pong(runtime, name) == 1


# ============================================================ start failures


@pytest.mark.parametrize("asked", [None, "a", "b"])
async def test_child_failing_first_start_fails_supervisor_start(runtime, asked):
    """b's started() raises on its first start: the supervisor's start fails, the children
    already started are stopped (reverse order), c never starts, and the caller whose
    message started the session gets an error at once."""
    starts: list[int] = []
    children = [ChildSpec("a", new(Stateful)), ChildSpec("b", new(OtpFlaky, starts=starts)),
                ChildSpec("c", new(Stateful))]
    await runtime.register(team(children))
    with pytest.raises(CoagentError) as info:
        await ask(runtime, asked, Ping())
    assert not isinstance(info.value, DeadlineExceeded)
    assert "start #1 fails" in str(info.value)
    assert Stateful.events[:3] == ev("started", "a", "b") + ev("stopped", "a")


async def test_child_always_failing_start_gives_an_error_without_hanging(runtime):
    children = [ChildSpec("a", new(Stateful)), ChildSpec("b", new(OtpAlwaysFails)),
                ChildSpec("c", new(Stateful))]
    await runtime.register(team(children))
    t0 = time.monotonic()
    with pytest.raises(CoagentError) as info:
        await ask(runtime, "a", Ping())
    assert not isinstance(info.value, DeadlineExceeded)
    assert time.monotonic() - t0 < 2
    assert "started team.c:s1" not in Stateful.events
    # every attempt stopped what it had started, in reverse order
    attempts = len([e for e in Stateful.events if e.startswith("started team.a")])
    assert attempts >= 1
    assert Stateful.events == (ev("started", "a", "b") + ev("stopped", "a")) * attempts


@pytest.mark.parametrize("strategy,max_restarts,escalates", [
    ("one_for_all", 2, False),
    ("one_for_all", 1, True),
    ("one_for_one", 2, False),
])
async def test_failed_restart_is_retried_within_intensity(runtime, strategy, max_restarts, escalates):
    """b's second start fails: a restart that fails is retried, and counts as a restart."""
    starts: list[int] = []
    children = [ChildSpec("a", new(Stateful)), ChildSpec("b", new(OtpFlaky, starts=starts, fail_on=(2,)))]
    await runtime.register(team(children, strategy, max_restarts=max_restarts))
    await warm(runtime, "ab", times=1)
    await crash(runtime, "b")
    await settle(runtime)
    assert len(starts) == 3
    assert (await node(runtime, None)).restarts == (1 if escalates else 0)
    assert await pong(runtime, "b") == 1
    assert await pong(runtime, "a") == (1 if strategy == "one_for_all" or escalates else 2)


# ================================================================= shutdown


async def test_runtime_stop_stops_children_in_reverse_start_order(runtime):
    await runtime.register(team(kids("a", "b", "c")))
    await warm(runtime, "abc", times=1)
    mark = len(Stateful.events)
    await asyncio.wait_for(runtime.stop(), T)
    assert since(mark) == ev("stopped", "c", "b", "a")


async def test_deregister_stops_children_in_reverse_start_order(runtime):
    await runtime.register(team(kids("a", "b", "c")))
    await warm(runtime, "abc", times=1)
    mark = len(Stateful.events)
    await asyncio.wait_for(runtime.deregister("team"), T)
    assert since(mark) == ev("stopped", "c", "b", "a")
    with pytest.raises(AgentNotFound):
        await ask(runtime, "a", Ping())


async def test_nested_shutdown_is_reverse_depth_first(runtime):
    await runtime.register(nested())
    await warm(runtime, ["a", "inner.x", "inner.y", "c"], times=1)
    mark = len(Stateful.events)
    await asyncio.wait_for(runtime.stop(), T)
    assert since(mark) == ev("stopped", "c", "inner.y", "inner.x", "a")


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_shutdown_order_is_kept_after_group_restart(runtime, strategy):
    await runtime.register(team(kids("a", "b", "c"), strategy))
    await warm(runtime, "abc", times=1)
    await crash(runtime, "a")
    await settle(runtime)
    mark = len(Stateful.events)
    await asyncio.wait_for(runtime.stop(), T)
    assert since(mark) == ev("stopped", "c", "b", "a")


async def test_shutdown_of_stopped_transient_and_removed_temporary(runtime):
    await runtime.register(team(kids("a", "tr", "tmp", "d", tr="transient", tmp="temporary")))
    await warm(runtime, ["a", "tr", "tmp", "d"], times=1)
    await stop(runtime, "tr")
    await stop(runtime, "tmp")
    await settle(runtime)
    mark = len(Stateful.events)
    await asyncio.wait_for(runtime.stop(), T)
    assert since(mark) == ev("stopped", "d", "a")


async def test_shutdown_timeout_kills_a_busy_child(runtime):
    """A child busy in a long call is cancelled after its ChildSpec ``shutdown`` seconds."""
    children = [ChildSpec("a", new(Stateful)), ChildSpec("b", new(Stateful), shutdown=0.1)]
    await runtime.register(team(children))
    await warm(runtime, "ab", times=1)
    slow = asyncio.ensure_future(ask(runtime, "b", Sleep(seconds=30)))
    await asyncio.sleep(0.02)
    t0 = time.monotonic()
    await asyncio.wait_for(runtime.stop(), T)
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(AgentStopped):
        await asyncio.wait_for(slow, T)
    assert "stopped team.a:s1" in Stateful.events


async def test_shutdown_timeout_applies_to_an_idle_child_with_slow_stopped(runtime):
    """OTP: a child gets ``shutdown`` seconds to terminate, then it is killed. Here b is
    idle and its stopped() would take 30 s; with shutdown=0.1 the stop must be quick."""
    children = [ChildSpec("a", new(Stateful)), ChildSpec("b", new(OtpSlowStop), shutdown=0.1)]
    await runtime.register(team(children, shutdown_timeout=1.0))
    await warm(runtime, "ab", times=1)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(runtime.stop(), 2.0)
    except TimeoutError:
        pytest.fail(f"runtime.stop() still running after {time.monotonic() - t0:.1f}s:"
                    " ChildSpec(shutdown=0.1) was not enforced on an idle child")
    assert time.monotonic() - t0 < 1.5
    assert Stateful.events[-2:] == ev("stopped", "b", "a")


# ============================================ the session supervisor around it


async def test_passivating_the_session_stops_children_in_reverse_order(runtime):
    await runtime.register(team(kids("a", "b", "c")))
    await warm(runtime, "abc", times=2)
    mark = len(Stateful.events)
    assert await runtime.passivate(addr(None)) is True
    assert since(mark) == ev("stopped", "c", "b", "a")
    assert await pong(runtime, "b") == 1
    assert since(mark)[3:] == ev("started", "a", "b", "c")


async def test_session_in_use_through_its_children_is_not_passivated(runtime):
    """Mail goes straight to the children's cells, so the session actor itself looks
    idle; a team whose children are being used must not be passivated (its children
    would lose their state mid-conversation)."""
    await runtime.register(team(kids("a", "b"), idle_timeout=0.3))
    seen = []
    for _ in range(8):
        seen.append(await pong(runtime, "a"))
        await asyncio.sleep(0.1)
    assert seen == list(range(1, 9)), f"child state was lost to passivation: {seen}"
    assert Stateful.events == ev("started", "a", "b")
