"""Agents the gateway tests call (also loaded by `coagent gateway --agents` and `coagent node`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from coagent import Actor, Context, Message, handler
from coagent.core import AgentSpec, new


class GPing(Message):
    n: int = 0


class GPong(Message):
    n: int = 0


class GCount(Message):
    n: int = 3
    delay: float = 0.0
    fail_at: int = -1


class GTick(Message):
    i: int = 0


class GSleep(Message):
    seconds: float = 30.0
    tag: str = ""


class GNote(Message):
    text: str = ""


class GNoted(Message):
    texts: list[str] = []


class GBoom(Message):
    pass


#: What the Slow agent saw, by tag: "started", then "cancelled" or "finished".
EVENTS: dict[str, list[str]] = {}


class Echo(Actor):
    def __init__(self) -> None:
        self.notes: list[str] = []

    @handler
    async def ping(self, msg: GPing, ctx: Context) -> GPong:
        return GPong(n=msg.n)

    @handler
    async def count(self, msg: GCount, ctx: Context) -> AsyncIterator[GTick]:
        for i in range(msg.n):
            if i == msg.fail_at:
                raise RuntimeError(f"failed at {i}")
            if msg.delay:
                await asyncio.sleep(msg.delay)
            yield GTick(i=i)

    @handler
    async def sleep(self, msg: GSleep, ctx: Context) -> GPong:
        EVENTS.setdefault(msg.tag, []).append("started")
        try:
            await asyncio.sleep(msg.seconds)
        except asyncio.CancelledError:
            EVENTS[msg.tag].append("cancelled")
            raise
        EVENTS[msg.tag].append("finished")
        return GPong(n=1)

    @handler
    async def note(self, msg: GNote, ctx: Context) -> None:
        self.notes.append(msg.text)

    @handler
    async def noted(self, msg: GNoted, ctx: Context) -> GNoted:
        return GNoted(texts=list(self.notes))

    @handler
    async def boom(self, msg: GBoom, ctx: Context) -> GPong:
        raise RuntimeError("kaboom: secret internals")


echo = AgentSpec("echo", new(Echo), description="Echoes pings, counts ticks")
