"""The actor semantics of the kernel, on the in-process runtime."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator

import pytest

from coagent import Actor, Address, Context, Message, RawMessage, handler
from coagent.core import AgentSpec, new
from coagent.errors import (
    AgentAlreadyRegistered,
    AgentCrashed,
    AgentNotFound,
    AgentStopped,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    MailboxFull,
    MessageDecodeError,
    RestartLimitExceeded,
    RuntimeNotStarted,
    TooManySessions,
    UnknownMessage,
)
from coagent.runtimes import LocalRuntime
from tests.kit import Count, Crash, Note, Ping, Pong, Sleep, Stateful, Stop, Tick


class Unhandled(Message):
    pass


class Journal(Actor):
    """Records when each handler starts and ends, to check serial execution."""

    log: list[tuple[str, str, int]] = []

    @handler
    async def work(self, msg: Ping, ctx: Context) -> Pong:
        Journal.log.append(("start", ctx.session, msg.n))
        await asyncio.sleep(0.001 * (msg.n % 3))
        Journal.log.append(("end", ctx.session, msg.n))
        return Pong(n=msg.n)


async def test_one_instance_per_session_keeps_state(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    a, b = Address("echo", "a"), Address("echo", "b")
    assert [(await runtime.ask(a, Ping())).n for _ in range(3)] == [1, 2, 3]
    assert (await runtime.ask(b, Ping())).n == 1
    tree = await runtime.tree()
    assert {s.session for s in tree.agents[0].sessions} == {"a", "b"}
    assert Stateful.events == ["started echo:a", "started echo:b"]


async def test_mailbox_is_strictly_serial_and_ordered(runtime: LocalRuntime) -> None:
    Journal.log = []
    await runtime.register(AgentSpec("j", new(Journal)))
    addr = Address("j", "s")
    replies = await asyncio.gather(*(runtime.ask(addr, Ping(n=i)) for i in range(30)))
    assert [r.n for r in replies] == list(range(30))
    # start/end strictly alternate, in arrival order
    expected = [(kind, "s", i) for i in range(30) for kind in ("start", "end")]
    assert Journal.log == expected


async def test_sessions_run_concurrently(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    start = time.monotonic()
    await asyncio.gather(*(runtime.ask(Address("echo", f"s{i}"), Sleep(seconds=0.2)) for i in range(20)))
    assert time.monotonic() - start < 1.0


async def test_crash_replies_at_once_and_fresh_instance_serves_next(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful), backoff_min=0.0))
    addr = Address("echo", "s")
    assert (await runtime.ask(addr, Ping())).n == 1
    with pytest.raises(AgentCrashed) as info:
        await runtime.ask(addr, Crash(text="kaboom"), timeout=5)
    assert info.value.exc_type == "RuntimeError"
    assert "RuntimeError: kaboom" in str(info.value)
    assert (await runtime.ask(addr, Ping())).n == 1  # fresh instance
    node = (await runtime.tree()).find("echo", "s")
    assert node is not None and node.restarts == 1 and "kaboom" in (node.last_error or "")
    assert Stateful.events == ["started echo:s", "stopped echo:s", "started echo:s"]


async def test_messages_queued_behind_a_crash_reach_the_fresh_instance(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful), backoff_min=0.05, backoff_max=0.05))
    addr = Address("echo", "s")
    crash = asyncio.ensure_future(runtime.ask(addr, Crash()))
    later = [asyncio.ensure_future(runtime.ask(addr, Ping())) for _ in range(3)]
    with pytest.raises(AgentCrashed):
        await crash
    assert [(await f).n for f in later] == [1, 2, 3]


async def test_unknown_message_is_a_typed_error_not_a_crash(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    addr = Address("echo", "s")
    await runtime.ask(addr, Ping())
    with pytest.raises(UnknownMessage, match="no handler for message type 'Unhandled'"):
        await runtime.ask(addr, Unhandled())
    with pytest.raises(UnknownMessage):
        await runtime.ask(addr, RawMessage(header={"type": "Nope"}, content=b"{}"))
    with pytest.raises(MessageDecodeError):
        await runtime.ask(addr, RawMessage(header={"type": "Ping"}, content=b"{garbage"))
    assert (await runtime.ask(addr, Ping())).n == 2  # same instance, never crashed


async def test_deadline_cancels_handler_and_actor_serves_next(runtime: LocalRuntime) -> None:
    cancelled = asyncio.Event()

    class Slow(Actor):
        @handler
        async def sleep(self, msg: Sleep, ctx: Context) -> Pong:
            try:
                await asyncio.sleep(msg.seconds)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return Pong()

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong(n=msg.n)

    await runtime.register(AgentSpec("slow", new(Slow)))
    addr = Address("slow", "s")
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await runtime.ask(addr, Sleep(seconds=30), timeout=0.1)
    assert time.monotonic() - start < 0.5
    await asyncio.wait_for(cancelled.wait(), 1)
    assert (await runtime.ask(addr, Ping(n=7), timeout=1)).n == 7
    node = (await runtime.tree()).find("slow", "s")
    assert node is not None and node.restarts == 0


async def test_caller_cancellation_reaches_the_handler(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    addr = Address("echo", "s")
    task = asyncio.ensure_future(runtime.ask(addr, Sleep(seconds=30)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await runtime.ask(addr, Ping(), timeout=1)).n == 1


async def test_queued_message_whose_caller_gave_up_is_skipped(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    addr = Address("echo", "s")
    busy = asyncio.ensure_future(runtime.ask(addr, Sleep(seconds=0.3)))
    await asyncio.sleep(0.01)
    with pytest.raises(DeadlineExceeded):
        await runtime.ask(addr, Ping(), timeout=0.05)
    await busy
    assert (await runtime.ask(addr, Ping())).n == 1  # the abandoned ping never ran


async def test_restart_intensity_stops_the_session(runtime: LocalRuntime) -> None:
    await runtime.register(
        AgentSpec("echo", new(Stateful), max_restarts=2, period=0.5, backoff_min=0.0)
    )
    addr = Address("echo", "s")
    for _ in range(3):
        with pytest.raises(AgentCrashed):
            await runtime.ask(addr, Crash())
    with pytest.raises(RestartLimitExceeded):
        await runtime.ask(addr, Ping())
    assert (await runtime.tree()).find("echo", "s") is None
    await asyncio.sleep(0.55)  # after the period the session may start again
    assert (await runtime.ask(addr, Ping())).n == 1
    assert (await runtime.ask(Address("echo", "other"), Ping())).n == 1


async def test_restarts_back_off_exponentially(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec(
        "echo", new(Stateful), max_restarts=10, period=10, backoff_min=0.05, backoff_max=0.2,
        backoff_jitter=0.0,
    ))
    addr = Address("echo", "s")
    gaps = []
    for _ in range(4):
        with pytest.raises(AgentCrashed):
            await runtime.ask(addr, Crash())
        start = time.monotonic()
        await runtime.ask(addr, Ping())
        gaps.append(time.monotonic() - start)
    assert gaps[0] == pytest.approx(0.05, abs=0.03)
    assert gaps[1] == pytest.approx(0.10, abs=0.03)
    assert gaps[2] == pytest.approx(0.20, abs=0.03)
    assert gaps[3] == pytest.approx(0.20, abs=0.03)  # capped at backoff_max


async def test_temporary_session_is_dropped_after_a_crash(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful), restart="temporary"))
    addr = Address("echo", "s")
    await runtime.ask(addr, Ping())
    with pytest.raises(AgentCrashed):
        await runtime.ask(addr, Crash())
    assert (await runtime.tree()).find("echo", "s") is None
    assert (await runtime.ask(addr, Ping())).n == 1


async def test_normal_exit_ends_the_session(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    addr = Address("echo", "s")
    await runtime.ask(addr, Ping())
    await runtime.ask(addr, Stop())
    await asyncio.sleep(0.01)
    assert (await runtime.tree()).find("echo", "s") is None
    assert "stopped echo:s" in Stateful.events
    assert (await runtime.ask(addr, Ping())).n == 1


async def test_idle_timeout_passivates_and_recreates(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful), idle_timeout=0.1))
    addr = Address("echo", "s")
    assert (await runtime.ask(addr, Ping())).n == 1
    await asyncio.sleep(0.35)
    assert (await runtime.tree()).find("echo", "s") is None
    assert Stateful.events == ["started echo:s", "stopped echo:s"]
    assert (await runtime.ask(addr, Ping())).n == 1


async def test_busy_session_is_not_passivated(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful), idle_timeout=0.05))
    addr = Address("echo", "s")
    await runtime.ask(addr, Sleep(seconds=0.3))
    assert (await runtime.ask(addr, Ping())).n == 1
    assert (await runtime.ask(addr, Ping())).n == 2


async def test_max_sessions_evicts_least_recently_used_idle(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful), max_sessions=2))
    for s in ("a", "b"):
        await runtime.ask(Address("echo", s), Ping())
    await runtime.ask(Address("echo", "a"), Ping())  # b is now least recently used
    await runtime.ask(Address("echo", "c"), Ping())
    await asyncio.sleep(0.01)
    sessions = {s.session for s in (await runtime.tree()).agents[0].sessions}
    assert sessions == {"a", "c"}
    assert "stopped echo:b" in Stateful.events


async def test_max_sessions_fails_when_none_is_idle(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful), max_sessions=2))
    busy = [asyncio.ensure_future(runtime.ask(Address("echo", s), Sleep(seconds=0.3))) for s in "ab"]
    await asyncio.sleep(0.05)
    with pytest.raises(TooManySessions):
        await runtime.ask(Address("echo", "c"), Ping())
    await asyncio.gather(*busy)
    assert (await runtime.ask(Address("echo", "c"), Ping())).n == 1


async def test_bounded_mailbox_waits_then_fails_and_keeps_order(runtime: LocalRuntime) -> None:
    class Recorder(Actor):
        got: list[str] = []

        @handler
        async def note(self, msg: Note, ctx: Context) -> None:
            await asyncio.sleep(0.01)
            Recorder.got.append(msg.text)

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong()

    await runtime.register(AgentSpec("rec", new(Recorder), mailbox_size=3))
    addr = Address("rec", "s")
    accepted = []
    for i in range(10):  # senders wait for room; all fit within the timeout
        await runtime.tell(addr, Note(text=str(i)), timeout=2)
        accepted.append(str(i))
    await runtime.ask(addr, Ping())
    assert Recorder.got == accepted

    Recorder.got = []
    # Now overflow with a short timeout: some sends fail, nothing accepted is lost.
    results = await asyncio.gather(
        *(runtime.tell(addr, Note(text=str(i)), timeout=0.02) for i in range(20)),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert failed and all(isinstance(r, MailboxFull) for r in failed)
    ok = [str(i) for i, r in enumerate(results) if r is None]
    await runtime.ask(addr, Ping(), timeout=5)
    assert Recorder.got == ok


async def test_stream_and_early_break_cancels_handler(runtime: LocalRuntime) -> None:
    state = {"produced": 0, "closed": False}

    class Counter(Actor):
        @handler
        async def count(self, msg: Count, ctx: Context) -> AsyncIterator[Tick]:
            try:
                for i in range(msg.n):
                    state["produced"] = i
                    await asyncio.sleep(0.005)
                    yield Tick(i=i)
            finally:
                state["closed"] = True

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong(n=msg.n)

    await runtime.register(AgentSpec("counter", new(Counter)))
    addr = Address("counter", "s")
    assert [t.i async for t in runtime.stream(addr, Count(n=5))] == [0, 1, 2, 3, 4]

    state["closed"] = False
    async for tick in runtime.stream(addr, Count(n=10_000)):
        if tick.i == 3:
            break
    gc.collect()
    await asyncio.sleep(0.05)
    assert state["closed"] and state["produced"] < 100
    assert (await runtime.ask(addr, Ping(n=1), timeout=1)).n == 1

    state["closed"] = False
    stream = runtime.stream(addr, Count(n=10_000))
    async with stream:
        async for tick in stream:
            if tick.i == 2:
                break
    await asyncio.sleep(0.05)
    assert state["closed"]


async def test_stream_deadline_and_crash(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    addr = Address("echo", "s")
    got = []
    with pytest.raises(DeadlineExceeded):
        async for tick in runtime.stream(addr, Count(n=100, delay=0.05), timeout=0.2):
            got.append(tick.i)
    assert 1 <= len(got) < 10
    # ask to a streaming handler returns its last item; stream of a reply handler yields it
    assert await runtime.ask(addr, Count(n=3)) == Tick(i=2)
    assert [p async for p in runtime.stream(addr, Ping())] == [Pong(n=1)]
    with pytest.raises(AgentCrashed):
        async for _ in runtime.stream(addr, Crash()):
            pass


async def test_seed_style_raw_calls(runtime: LocalRuntime) -> None:
    spec = AgentSpec("echo", new(Stateful))
    await runtime.register(spec)
    raw = await spec.run(Ping().encode(), session_id="s1")
    assert Pong.decode(raw) == Pong(n=1)
    chunks = [Tick.decode(c).i async for c in spec.run_stream(Count(n=3).encode(), session_id="s1")]
    assert chunks == [0, 1, 2]
    assert await spec.run(Note(text="x").encode()) is None
    with pytest.raises(InvalidAddress):
        await spec.run(Ping().encode(), session_id="a b")


async def test_tell_is_processed_in_order(runtime: LocalRuntime) -> None:
    await runtime.register(AgentSpec("echo", new(Stateful)))
    addr = Address("echo", "s")
    for i in range(100):
        await runtime.tell(addr, Note(text=str(i)))
    await runtime.ask(addr, Ping())
    cell = runtime.supervisor("echo").sessions["s"]
    assert cell.instance.notes == [str(i) for i in range(100)]  # type: ignore[union-attr]


async def test_registration_errors() -> None:
    spec = AgentSpec("echo", new(Stateful))
    with pytest.raises(RuntimeNotStarted):
        await spec.run(Ping().encode())
    async with LocalRuntime() as rt:
        await rt.register(spec)
        with pytest.raises(AgentAlreadyRegistered):
            await rt.register(AgentSpec("echo", new(Stateful)))
        with pytest.raises(AgentNotFound):
            await rt.ask(Address("nobody", "s"), Ping())
        with pytest.raises(AgentNotFound):
            await rt.deregister("nobody")
        with pytest.raises(InvalidAddress):
            await rt.ask("echo:>", Ping())
        await rt.deregister("echo")
        with pytest.raises(AgentNotFound):
            await rt.ask(Address("echo", "s"), Ping())
    assert isinstance(AgentNotFound(), CoagentError)


async def test_stop_runs_stopped_and_fails_pending_callers() -> None:
    rt = LocalRuntime()
    await rt.start()
    await rt.register(AgentSpec("echo", new(Stateful), shutdown_timeout=0.2))
    addr = Address("echo", "s")
    busy = asyncio.ensure_future(rt.ask(addr, Sleep(seconds=30)))
    queued = asyncio.ensure_future(rt.ask(addr, Ping()))
    await asyncio.sleep(0.05)
    start = time.monotonic()
    await rt.stop()
    assert time.monotonic() - start < 1.5
    for fut in (busy, queued):
        with pytest.raises(AgentStopped):
            await fut


async def test_started_failure_is_reported_to_the_caller(runtime: LocalRuntime) -> None:
    class Broken(Actor):
        async def started(self) -> None:
            raise ValueError("no config")

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            return Pong()

    await runtime.register(AgentSpec("broken", new(Broken), max_restarts=1, backoff_min=0.0))
    with pytest.raises(AgentCrashed, match="no config"):
        await runtime.ask(Address("broken", "s"), Ping(), timeout=2)


async def test_context_carries_sender_deadline_and_calls(runtime: LocalRuntime) -> None:
    seen = {}

    class Front(Actor):
        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            seen["remaining"] = ctx.remaining()
            reply = await ctx.ask(Address("back", ctx.session), Ping(n=msg.n + 1))
            return Pong(n=reply.n)

    class Back(Actor):
        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            seen["sender"] = ctx.sender
            seen["back_remaining"] = ctx.remaining()
            return Pong(n=msg.n * 10)

    await runtime.register(AgentSpec("front", new(Front)))
    await runtime.register(AgentSpec("back", new(Back)))
    assert (await runtime.ask(Address("front", "s"), Ping(n=1), timeout=2)).n == 20
    assert seen["sender"] == Address("front", "s")
    assert 0 < seen["back_remaining"] <= seen["remaining"] <= 2


async def test_spawned_children_are_addressable_and_stop_with_parent(runtime: LocalRuntime) -> None:
    class Parent(Actor):
        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            child = await ctx.spawn(f"w{msg.n}", new(Stateful))
            return await ctx.ask(child, Ping())

    await runtime.register(AgentSpec("parent", new(Parent)))
    assert (await runtime.ask(Address("parent", "s"), Ping(n=1))).n == 1
    assert (await runtime.ask(Address("parent.w1", "s"), Ping())).n == 2
    node = (await runtime.tree()).find("parent", "s")
    assert node is not None and [c.name for c in node.children] == ["parent.w1"]
    await runtime.passivate(Address("parent", "s"))
    assert "stopped parent.w1:s" in Stateful.events
    with pytest.raises(AgentNotFound):
        await runtime.ask(Address("parent.w1", "s"), Ping())


async def test_tree_snapshot_is_json_and_lists_every_actor_once(runtime: LocalRuntime) -> None:
    import json

    await runtime.register(AgentSpec("echo", new(Stateful), description="echoes"))
    for s in ("a", "b"):
        await runtime.ask(Address("echo", s), Ping())
    tree = await runtime.tree()
    data = json.loads(json.dumps(tree.to_dict()))
    assert data["runtime"] == "local"
    [agent] = data["agents"]
    assert agent["name"] == "echo" and agent["description"] == "echoes"
    for session in agent["sessions"]:
        assert {"name", "session", "kind", "status", "restarts", "mailbox", "age"} <= set(session)
        assert session["status"] == "idle" and session["kind"] == "Stateful"
    addresses = [a.address for a in tree.actors()]
    assert sorted(addresses) == ["echo:a", "echo:b"]


class Delta(Message):
    text: str = ""

    @classmethod
    def merge_stream(cls, items: list[Delta]) -> Delta:
        return cls(text="".join(i.text for i in items))


async def test_ask_to_a_streaming_handler_merges_deltas(runtime: LocalRuntime) -> None:
    class Talker(Actor):
        @handler
        async def talk(self, msg: Ping, ctx: Context) -> AsyncIterator[Delta]:
            for word in ("hello", " ", "world"):
                yield Delta(text=word)

    await runtime.register(AgentSpec("talker", new(Talker)))
    addr = Address("talker", "s")
    assert await runtime.ask(addr, Ping()) == Delta(text="hello world")
    assert [d.text async for d in runtime.stream(addr, Ping())] == ["hello", " ", "world"]
    raw = await runtime.ask(addr, Ping().encode())
    assert Delta.decode(raw).text == "hello world"


class Refused(CoagentError):
    code = "tests_refused"


class Corrupted(CoagentError):
    code = "tests_corrupted"
    restarts_actor = True


async def test_typed_errors_fail_the_call_without_a_restart(runtime: LocalRuntime) -> None:
    class Picky(Actor):
        def __init__(self) -> None:
            self.seen = 0

        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:
            self.seen += 1
            if msg.n == 1:
                raise Refused("not today")
            if msg.n == 2:
                raise Corrupted("state is broken")
            return Pong(n=self.seen)

    await runtime.register(AgentSpec("picky", new(Picky), backoff_min=0.0))
    addr = Address("picky", "s")
    with pytest.raises(Refused, match="not today"):
        await runtime.ask(addr, Ping(n=1))
    assert (await runtime.ask(addr, Ping())).n == 2  # same instance: its state survived
    with pytest.raises(Corrupted):
        await runtime.ask(addr, Ping(n=2))
    assert (await runtime.ask(addr, Ping())).n == 1  # restarted
    node = (await runtime.tree()).find("picky", "s")
    assert node is not None and node.restarts == 1
