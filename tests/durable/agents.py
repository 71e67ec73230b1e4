"""Durable actors the tests (and their child processes) register."""

from __future__ import annotations

import os
from typing import Any

import msgspec

from coagent import Actor, Context, Message, handler


class Add(Message):
    n: int = 1


class Boom(Message):
    """Fails every time it is handled (a poison message)."""

    reason: str = "boom"


class Get(Message):
    pass


class Total(Message):
    n: int = 0
    seen: list[int] = []


class CounterState(msgspec.Struct):
    n: int = 0
    seen: list[int] = []


class Counter(Actor):
    """Adds what it is told; remembers each addend in order."""

    def __init__(self) -> None:
        super().__init__()
        self.state = CounterState()

    def snapshot(self) -> CounterState:
        return self.state

    def restore(self, data: Any) -> None:
        self.state = msgspec.convert(data, CounterState)

    @handler
    async def add(self, msg: Add, ctx: Context) -> Total:
        self.state.n += msg.n
        self.state.seen.append(msg.n)
        return Total(n=self.state.n, seen=list(self.state.seen))

    @handler
    async def boom(self, msg: Boom, ctx: Context) -> None:
        self.state.n += 1000  # a partial effect that must not survive the failure
        raise RuntimeError(msg.reason)

    @handler
    async def get(self, msg: Get, ctx: Context) -> Total:
        return Total(n=self.state.n, seen=list(self.state.seen))


def pid_file(path: str) -> None:
    with open(path, "w") as f:
        f.write(str(os.getpid()))


class SlowCounter(Counter):
    """A counter whose handler takes a while, so that accepted tells queue up."""

    @handler
    async def add(self, msg: Add, ctx: Context) -> Total:
        import asyncio

        await asyncio.sleep(0.005)
        total: Total = await Counter.add(self, msg, ctx)  # @handler's result is typed Any
        return total
