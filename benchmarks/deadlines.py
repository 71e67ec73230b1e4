"""Deadline mechanism benchmark: the node's DeadlineWheel against a loop timer per call.

    .venv/bin/python benchmarks/deadlines.py

Each call in flight registers a deadline and cancels it when answered; the floor is
``loop.call_at`` + ``cancel`` (what a per-call timer costs).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coagent.transport.deadlines import DeadlineWheel

N = 200_000


def _noop() -> None:
    return None


async def main() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop)  # 60 s deadlines: the slotted path
    best_timer = best_wheel = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(N):
            loop.call_at(loop.time() + 60, _noop).cancel()
        best_timer = min(best_timer, (time.perf_counter() - start) / N)
        start = time.perf_counter()
        for _ in range(N):
            wheel.at(loop.time() + 60, _noop).cancel()
        best_wheel = min(best_wheel, (time.perf_counter() - start) / N)
        await asyncio.sleep(0)
    print(f"floor: loop.call_at + cancel per call        {best_timer * 1e6:6.2f} us")
    print(f"DeadlineWheel.at + cancel per call           {best_wheel * 1e6:6.2f} us"
          f"   {best_timer / best_wheel:.1f}x faster than the floor")


if __name__ == "__main__":
    asyncio.run(main())
