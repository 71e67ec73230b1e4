"""Message types and actors shared by the tests.

Message classes claim their wire name process-wide, so tests import these
instead of redefining ``Ping`` in every module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from coagent import Actor, Context, Message, handler


class Ping(Message):
    n: int = 0


class Pong(Message):
    n: int = 0


class Count(Message):
    n: int = 0
    delay: float = 0.0


class Tick(Message):
    i: int = 0


class Crash(Message):
    text: str = "boom"


class Sleep(Message):
    seconds: float = 0.0


class Stop(Message):
    pass


class Note(Message):
    text: str = ""


class Stateful(Actor):
    """Counts pings; crashes on ``Crash``; sleeps on ``Sleep``; stops on ``Stop``."""

    events: list[str] = []  # class-level journal, reset by tests that read it

    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self.seen = 0
        self.notes: list[str] = []

    async def started(self) -> None:
        Stateful.events.append(f"started {self.address}")

    async def stopped(self) -> None:
        Stateful.events.append(f"stopped {self.address}")

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        self.seen += 1
        return Pong(n=self.seen)

    @handler
    async def count(self, msg: Count, ctx: Context) -> AsyncIterator[Tick]:
        for i in range(msg.n):
            if msg.delay:
                await asyncio.sleep(msg.delay)
            yield Tick(i=i)

    @handler
    async def crash(self, msg: Crash, ctx: Context) -> None:
        raise RuntimeError(msg.text)

    @handler
    async def sleep(self, msg: Sleep, ctx: Context) -> Pong:
        await asyncio.sleep(msg.seconds)
        return Pong(n=-1)

    @handler
    async def stop(self, msg: Stop, ctx: Context) -> None:
        ctx.stop()

    @handler
    async def note(self, msg: Note, ctx: Context) -> None:
        self.notes.append(msg.text)
