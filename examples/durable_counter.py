"""A durable counter: its state and its accepted tells outlive the process.

    python examples/durable_counter.py            # run it twice: the count goes on

The first run of a fresh store tells the counter three times; every later run (a new
process, the same ``state.db``) finds the count where the last one left it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from typing import Any

import msgspec

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime


class Add(Message):
    n: int = 1


class Get(Message):
    pass


class Total(Message):
    n: int = 0


class CounterState(msgspec.Struct):
    n: int = 0


class Counter(Actor):
    def __init__(self) -> None:
        super().__init__()
        self.state = CounterState()

    def snapshot(self) -> CounterState:  # stored after every handled message
        return self.state

    def restore(self, data: Any) -> None:  # on every activation that finds a stored state
        self.state = msgspec.convert(data, CounterState)

    @handler
    async def add(self, msg: Add, ctx: Context) -> None:
        self.state.n += msg.n

    @handler
    async def get(self, msg: Get, ctx: Context) -> Total:
        return Total(n=self.state.n)


counter = AgentSpec("counter", new(Counter), durable=True)


async def run_once(store: str) -> int:
    async with LocalRuntime(store=store) as runtime:
        await runtime.register(counter)
        c1 = Address("counter", "c1")
        for _ in range(3):
            await runtime.tell(c1, Add(n=1))  # returns once the tell is stored
        total: Total = await runtime.ask(c1, Get(), timeout=5)
        return total.n


async def main() -> None:
    store = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), "state.db")
    first = await run_once(store)
    second = await run_once(store)  # a new runtime, as after a restart: the state is restored
    print(f"after the first run: {first}; after the second: {second}")


if __name__ == "__main__":
    asyncio.run(main())
