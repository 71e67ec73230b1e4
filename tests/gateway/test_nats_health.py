"""On NATS, health follows the connection to the server, and comes back with it."""

from __future__ import annotations

import asyncio

import httpx

from coagent.gateway import Gateway
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer


async def test_health_is_503_while_the_nats_server_is_away_and_ok_again_after() -> None:
    server = NATSServer().start()
    runtime = NATSRuntime.from_servers(server.url, prefix="health", reconnect_time_wait=0.2)
    await runtime.start()
    gateway = Gateway(runtime)
    url = await gateway.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:

            async def status_becomes(code: int) -> None:
                for _ in range(150):
                    if (await client.get("/v1/health")).status_code == code:
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError(f"health did not answer {code}")

            assert (await client.get("/v1/health")).json() == {"status": "ok"}
            await asyncio.to_thread(server.stop)
            await status_becomes(503)
            r = await client.get("/v1/health")
            assert r.json()["status"] == "unavailable" and r.headers["Retry-After"] == "1"
            r = await client.post("/v1/agents/echo/sessions/s1/call", json={"type": "GPing"},
                                  headers={"Coagent-Timeout": "1"})
            # nats-py holds messages while it reconnects: the call meets its deadline.
            assert r.status_code == 504 and r.json()["code"] == "deadline_exceeded", r.text
            await asyncio.to_thread(server.start)
            await status_becomes(200)
    finally:
        await gateway.stop()
        await runtime.stop()
        server.close()
