"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--no-upkeep", action="store_true",
                        help="benchmarks/nats.py: skip the claim-upkeep figure (100,000 sessions)")
    return parser.parse_args()


def run(main: Callable[[argparse.Namespace], Awaitable[None]], args: argparse.Namespace) -> None:
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main(args))


async def best_rate(fn: Callable[[int], Awaitable[float]], n: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs of ``fn(n)`` (which returns seconds) as operations/second."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        best = min(best, await fn(n))
    return n / best


async def queue_ping_pong(n: int) -> float:
    """The floor: two tasks bouncing an item over two asyncio.Queues; seconds for n round trips."""
    q_in: asyncio.Queue[int] = asyncio.Queue()
    q_out: asyncio.Queue[int] = asyncio.Queue()

    async def server() -> None:
        while True:
            q_out.put_nowait(await q_in.get())

    task = asyncio.create_task(server())
    start = time.perf_counter()
    for i in range(n):
        q_in.put_nowait(i)
        await q_out.get()
    elapsed = time.perf_counter() - start
    task.cancel()
    return elapsed


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def report(label: str, value: float, unit: str, floor: float | None = None, target: str = "") -> None:
    ratio = f"  {value / floor:5.2f}x floor" if floor else ""
    print(f"{label:<48} {value:>12,.0f} {unit:<10}{ratio}  {target}")
