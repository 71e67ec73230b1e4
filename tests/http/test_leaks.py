"""Registering and disconnecting over and over leaves the gateway where it started."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from tests.http.conftest import Served

CYCLES = 1000


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll often: a thousand cycles wait for the gateway twice each."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.002)


async def one_cycle(served: Served, i: int) -> None:
    """Register a type (CoS or ours), start a session of it, disconnect."""
    client = served.client
    if i % 2:
        body = {"name": "cycled", "description": "x"}
        path = "/runtime/register"
    else:
        body = {"agents": [{"name": "cycled"}], "node": f"n{i}"}
        path = "/v1/serve"
    async with client.stream("POST", path, json=body) as resp:
        assert resp.status_code == 200
        await eventually(lambda: bool(served.runtime.specs()), timeout=10)
        # A session starts: CoS announces it, ours gets the tell as a delivery.
        await served.runtime.tell(Address("cycled", f"s{i}"), RawMessage.from_json("Ping", {}))
        async for line in resp.aiter_lines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if "provider" in data:
                    continue  # ours says it is ready first
                assert data.get("header", {}).get("type") == "AgentCreated" or data.get("kind") == "tell"
                break
    await eventually(lambda: not served.runtime.specs(), timeout=10)


def _state(served: Served) -> tuple[int, ...]:
    hosted = served.gateway.hosted
    return (len(hosted.providers), len(hosted.by_id), len(hosted.calls), len(served.runtime.specs()),
            len(served.gateway.calls))


async def test_a_thousand_register_disconnect_cycles_leave_tasks_and_memory_where_they_were(
        serve: Callable[..., Any]) -> None:
    served = await serve(specs=[], reconnect_grace=0.05)
    for i in range(50):  # warm up: caches, the connection pool, lazily made objects
        await one_cycle(served, i)
    await asyncio.sleep(0.2)
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(50, 50 + CYCLES):
            await one_cycle(served, i)
        await asyncio.sleep(0.2)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert _state(served) == (0, 0, 0, 0, 0)
    assert len(asyncio.all_tasks()) <= tasks_before
    # A leak of even one small object per cycle would show as well over 100 kB here.
    print(f"memory grown over {CYCLES} cycles: {grown} bytes")
    assert grown < 100_000, [str(s) for s in after.compare_to(before, "lineno")[:8]]
