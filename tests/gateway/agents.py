"""Agents the gateway tests call (also loaded by `coagent gateway --agents` and `coagent node`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from coagent import Actor, Context, Message, handler
from coagent.core import AgentSpec, new


class Ping(Message):
    n: int = 0


class Pong(Message):
    n: int = 0


class Count(Message):
    n: int = 3
    delay: float = 0.0
    fail_at: int = -1


class Tick(Message):
    i: int = 0


class Sleep(Message):
    seconds: float = 30.0
    tag: str = ""


class Note(Message):
    text: str = ""


class Noted(Message):
    texts: list[str] = []


class Boom(Message):
    pass


#: What the Slow agent saw, by tag: "started", then "cancelled" or "finished".
EVENTS: dict[str, list[str]] = {}


class Echo(Actor):
    def __init__(self) -> None:
        self.notes: list[str] = []

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        return Pong(n=msg.n)

    @handler
    async def count(self, msg: Count, ctx: Context) -> AsyncIterator[Tick]:
        for i in range(msg.n):
            if i == msg.fail_at:
                raise RuntimeError(f"failed at {i}")
            if msg.delay:
                await asyncio.sleep(msg.delay)
            yield Tick(i=i)

    @handler
    async def sleep(self, msg: Sleep, ctx: Context) -> Pong:
        EVENTS.setdefault(msg.tag, []).append("started")
        try:
            await asyncio.sleep(msg.seconds)
        except asyncio.CancelledError:
            EVENTS[msg.tag].append("cancelled")
            raise
        EVENTS[msg.tag].append("finished")
        return Pong(n=1)

    @handler
    async def note(self, msg: Note, ctx: Context) -> None:
        self.notes.append(msg.text)

    @handler
    async def noted(self, msg: Noted, ctx: Context) -> Noted:
        return Noted(texts=list(self.notes))

    @handler
    async def boom(self, msg: Boom, ctx: Context) -> Pong:
        raise RuntimeError("kaboom: secret internals")


echo = AgentSpec("echo", new(Echo), description="Echoes pings, counts ticks")
