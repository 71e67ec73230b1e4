"""The inline paths of a local tell and a queued message keep what the general paths do."""

from __future__ import annotations

import asyncio
import gc

from coagent import Actor, Address, Context, Message, handler
from coagent.actors.control import ControlMessage
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.runtimes.node import freeze_startup_heap
from tests.kit import Ping, Stateful


class Mark(Message):
    pass


class Hold(Message):
    seconds: float = 0.0


class Peek(ControlMessage):
    pass


class Recorder(Actor):
    """Records ``ctx.remaining()`` of each tell; ``Peek`` answers beside a running ``Hold``."""

    remaining: list[float] = []
    peeked: list[bool] = []

    def __init__(self) -> None:
        self.holding = False

    @handler
    async def mark(self, msg: Mark, ctx: Context) -> None:
        left = ctx.remaining()
        assert left is not None
        Recorder.remaining.append(left)

    @handler
    async def hold(self, msg: Hold, ctx: Context) -> None:
        self.holding = True
        await asyncio.sleep(msg.seconds)
        self.holding = False

    @handler
    async def peek(self, msg: Peek, ctx: Context) -> None:
        Recorder.peeked.append(self.holding)


async def test_a_tell_to_a_live_session_carries_its_deadline(runtime: LocalRuntime) -> None:
    Recorder.remaining = []
    await runtime.register(AgentSpec("rec", new(Recorder)))
    addr = Address("rec", "s1")
    await runtime.tell(addr, Mark())  # the first starts the session, the second finds it live
    await runtime.tell(addr, Mark(), timeout=5.0)
    await runtime.tell(addr, Mark())
    while len(Recorder.remaining) < 3:
        await asyncio.sleep(0.001)
    first, explicit, default = Recorder.remaining
    assert 4.0 < explicit <= 5.0
    assert runtime.default_timeout - 1.0 < default <= runtime.default_timeout
    assert runtime.default_timeout - 1.0 < first <= runtime.default_timeout


async def test_a_tell_counts_as_a_use_for_max_sessions_eviction(runtime: LocalRuntime) -> None:
    Stateful.events = []
    await runtime.register(AgentSpec("echo", new(Stateful), max_sessions=2))
    for s in ("a", "b"):
        await runtime.ask(Address("echo", s), Ping())
    await runtime.tell(Address("echo", "a"), Ping())  # b is now least recently used
    await runtime.ask(Address("echo", "c"), Ping())
    await asyncio.sleep(0.01)
    sessions = {s.session for s in (await runtime.tree()).agents[0].sessions}
    assert sessions == {"a", "c"}
    assert "stopped echo:b" in Stateful.events


async def test_control_messages_keep_their_lane_after_data_messages_of_other_classes(
    runtime: LocalRuntime,
) -> None:
    Recorder.peeked = []
    await runtime.register(AgentSpec("rec", new(Recorder)))
    addr = Address("rec", "s1")
    await runtime.ask(addr, Mark())
    held = asyncio.ensure_future(runtime.ask(addr, Hold(seconds=0.3)))
    await asyncio.sleep(0.05)
    for _ in range(2):  # the first classifies Peek, the second reads what was recorded
        await asyncio.wait_for(runtime.ask(addr, Peek()), 0.2)
    assert Recorder.peeked == [True, True]
    await held


def test_freeze_startup_heap_moves_live_objects_out_of_the_collectors_way() -> None:
    gc.unfreeze()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle made after the freeze is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
