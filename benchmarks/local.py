"""In-process runtime benchmark: figures and their ratio to an asyncio.Queue ping-pong.

    .venv/bin/python benchmarks/local.py [--uvloop] [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import best_rate, parse_args, queue_ping_pong, report, rss_bytes, run

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime


class BPing(Message):
    n: int = 0


class BNote(Message):
    n: int = 0


class Sink(Actor):
    def __init__(self) -> None:
        self.count = 0

    @handler
    async def ping(self, msg: BPing, ctx: Context) -> BPing:
        return msg

    @handler
    async def note(self, msg: BNote, ctx: Context) -> None:
        self.count += 1


async def main(args) -> None:
    scale = 10 if args.quick else 1
    async with LocalRuntime() as rt:
        await rt.register(AgentSpec("sink", new(Sink), idle_timeout=None, mailbox_size=0))
        loop = "uvloop" if args.uvloop else "asyncio"
        print(f"Python {sys.version.split()[0]}, {loop}\n")

        floor = await best_rate(queue_ping_pong, 100_000 // scale)
        report("floor: asyncio.Queue ping-pong", floor, "rt/s")

        addr = Address("sink", "one")
        ping = BPing(n=1)
        await rt.ask(addr, ping)

        async def sequential(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                await rt.ask(addr, ping)
            return time.perf_counter() - start

        rate = await best_rate(sequential, 100_000 // scale)
        report("sequential ask, one session", rate, "rt/s", floor, "(target >= 0.5x)")

        sessions = [Address("sink", f"c{i}") for i in range(100)]
        for a in sessions:
            await rt.ask(a, ping)

        async def concurrent(n: int) -> float:
            per = n // len(sessions)

            async def client(a: Address) -> None:
                for _ in range(per):
                    await rt.ask(a, ping)

            start = time.perf_counter()
            await asyncio.gather(*(client(a) for a in sessions))
            return time.perf_counter() - start

        rate = await best_rate(concurrent, 200_000 // scale)
        report("100 sessions asking concurrently", rate, "asks/s", floor, "(target >= 0.5x)")

        async def tells(n: int) -> float:
            note = BNote()
            target = Address("sink", "tell")
            start = time.perf_counter()
            for _ in range(n):
                await rt.tell(target, note)
            await rt.ask(target, ping)  # everything before it has been handled
            return time.perf_counter() - start

        rate = await best_rate(tells, 300_000 // scale)
        report("one-way tell to one actor", rate, "msgs/s", None, "(target >= 300,000/s)")

        await rt.deregister("sink")
        await rt.register(AgentSpec("fresh", new(Sink), idle_timeout=None, mailbox_size=0))
        counter = iter(range(10**9))

        async def spawns(n: int) -> float:
            base = next(counter)
            start = time.perf_counter()
            await asyncio.gather(*(rt.ask(Address("fresh", f"n{base}-{i}"), ping) for i in range(n)))
            return time.perf_counter() - start

        rate = await best_rate(spawns, 10_000)
        report("new sessions by concurrent first asks", rate, "sessions/s", None, "(target >= 30,000/s)")
        await rt.deregister("fresh")

        await rt.register(AgentSpec("idle", new(Sink), idle_timeout=None, mailbox_size=0))
        gc.collect()
        before = rss_bytes()
        live = 100_000 // scale
        batch = 10_000
        for b in range(0, live, batch):
            await asyncio.gather(*(rt.ask(Address("idle", f"i{i}"), ping) for i in range(b, b + batch)))
        gc.collect()
        await asyncio.sleep(0)
        per_session = (rss_bytes() - before) / live
        tasks = len(asyncio.all_tasks()) - 1
        report(f"memory per idle session ({live:,} live)", per_session, "bytes", None,
               f"(target <= 4096; running tasks: {tasks})")


if __name__ == "__main__":
    run(main, parse_args(__doc__ or ""))
