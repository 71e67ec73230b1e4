"""Agents of ``benchmarks/http_durable.py``: a durable counter (served by an HTTPRuntime
process) and a fan-out agent in the gateway's process that tells it."""

from __future__ import annotations

from typing import Any

import msgspec

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new


class HAdd(Message):
    n: int = 1


class HGet(Message):
    pass


class HTotal(Message):
    n: int = 0


class HFan(Message):
    count: int = 1


class HFanned(Message):
    count: int = 0


class CounterState(msgspec.Struct):
    n: int = 0


class HCounter(Actor):
    def __init__(self) -> None:
        super().__init__()
        self.state = CounterState()

    def snapshot(self) -> CounterState:
        return self.state

    def restore(self, data: Any) -> None:
        self.state = msgspec.convert(data, CounterState)

    @handler
    async def add(self, msg: HAdd, ctx: Context) -> None:
        self.state.n += msg.n

    @handler
    async def get(self, msg: HGet, ctx: Context) -> HTotal:
        return HTotal(n=self.state.n)


class HFanout(Actor):
    """Tells ``hcounter:<its own session>`` ``count`` times, each tell after the last returned."""

    @handler
    async def fan(self, msg: HFan, ctx: Context) -> HFanned:
        target = Address("hcounter", ctx.address.session)
        for _ in range(msg.count):
            await ctx.tell(target, HAdd(n=1))
        return HFanned(count=msg.count)


hcounter = AgentSpec("hcounter", new(HCounter), durable=True)
hfanout = AgentSpec("hfanout", new(HFanout))
