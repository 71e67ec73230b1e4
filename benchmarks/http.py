"""HTTP gateway benchmark: figures and their ratio to plain aiohttp endpoints measured in the same run.

    .venv/bin/python benchmarks/http.py [--uvloop] [--quick]

A server process runs the gateway (a LocalRuntime with one agent) and, on another port,
a bare aiohttp app of the same stack whose endpoints answer the same JSON and the same SSE
frames without any agent: the floor. A third process, on HTTPRuntime, serves the same agent
through the gateway (each call then crosses two HTTP hops: caller -> gateway, and the
delivery stream plus the answer's POST between gateway and that process). This process
calls them all with the same aiohttp client.
For scale: the original Coagent's HTTP runtime answers about 300 sequential requests/s here.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
from _common import parse_args, report, run  # noqa: E402

# This file is named like the standard library's ``http``: its folder must leave the path
# before anything imports that (aiohttp does).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from coagent import Actor, Context, Message, handler  # noqa: E402
from coagent.core import AgentSpec, new  # noqa: E402
from coagent.testing.ports import free_port  # noqa: E402

REQUEST = b'{"type":"BPing","content":{"n":1}}'
REPLY = b'{"type":"BPong","content":{"n":1}}'
TICK = b'{"type":"BTick","content":{"i":1}}'


class BPing(Message):
    n: int = 0


class BPong(Message):
    n: int = 0


class BCount(Message):
    n: int = 0


class BTick(Message):
    i: int = 0


class Bench(Actor):
    @handler
    async def ping(self, msg: BPing, ctx: Context) -> BPong:
        return BPong(n=msg.n)

    @handler
    async def count(self, msg: BCount, ctx: Context) -> AsyncIterator[BTick]:
        tick = BTick(i=1)
        for _ in range(msg.n):
            yield tick


# ------------------------------------------------------------------ server process


async def serve(port: int, floor_port: int) -> None:
    from aiohttp import web

    from coagent.gateway import Gateway
    from coagent.runtimes import LocalRuntime

    async def plain(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=REPLY, content_type="application/json")

    async def sse(request: web.Request) -> web.StreamResponse:
        n = int(request.query["n"])
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for i in range(1, n + 1):
            await resp.write(b"id: %d\nevent: message\ndata: %s\n\n" % (i, TICK))
        await resp.write(b'id: %d\nevent: end\ndata: {"count":%d}\n\n' % (n + 1, n))
        return resp

    floor = web.Application()
    floor.router.add_post("/plain", plain)
    floor.router.add_post("/sse", sse)
    runner = web.AppRunner(floor, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", floor_port).start()
    async with LocalRuntime() as rt:
        await rt.register(AgentSpec("bench", new(Bench), idle_timeout=None))
        gateway = Gateway(rt)
        await gateway.start("127.0.0.1", port)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
        await gateway.stop()
    await runner.cleanup()


async def serve_remote(gateway_url: str) -> None:
    """Another process on HTTPRuntime: serves ``remote_bench`` through the gateway."""
    from coagent.runtimes import HTTPRuntime

    async with HTTPRuntime.from_server(gateway_url) as rt:
        await rt.register(AgentSpec("remote_bench", new(Bench), idle_timeout=None))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF


# ------------------------------------------------------------------ client side


def _spawn(args: list[str], uvloop: bool) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, *args] + (["--uvloop"] if uvloop else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def start_server(uvloop: bool) -> tuple[subprocess.Popen[str], int, int, subprocess.Popen[str]]:
    port, floor_port = free_port(), free_port()
    server = _spawn(["--serve", str(port), str(floor_port)], uvloop)
    remote = _spawn(["--remote", f"http://127.0.0.1:{port}"], uvloop)
    return server, port, floor_port, remote


async def main(args) -> None:  # type: ignore[no-untyped-def]
    import aiohttp

    scale = 5 if args.quick else 1
    server, port, floor_port, remote = args.server
    try:
        loop = "uvloop" if args.uvloop else "asyncio"
        print(f"Python {sys.version.split()[0]}, {loop}, aiohttp {aiohttp.__version__} server and client\n")
        gw = f"http://127.0.0.1:{port}"
        fl = f"http://127.0.0.1:{floor_port}"
        call = f"{gw}/v1/agents/bench/sessions/one/call"
        headers = {"Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as client:

            async def one(url: str) -> None:
                async with client.post(url, data=REQUEST, headers=headers) as r:
                    body = await r.read()
                    if r.status != 200 or body != REPLY:
                        raise RuntimeError(f"{url}: {r.status} {body!r}")

            async def sequential(url: str, n: int) -> float:
                start = time.perf_counter()
                for _ in range(n):
                    await one(url)
                return n / (time.perf_counter() - start)

            async def concurrent(url: str, n: int, callers: int = 100) -> float:
                # Each caller has its own session (as 100 users would): the floor has no
                # mailbox, and one session's mailbox would serialise them all.
                async def caller(url: str) -> None:
                    for _ in range(n // callers):
                        await one(url)

                start = time.perf_counter()
                await asyncio.gather(*(caller(url.replace("{i}", str(i))) for i in range(callers)))
                return n / (time.perf_counter() - start)

            async def stream(url: str, n: int, body: bytes) -> float:
                start = time.perf_counter()
                count = 0
                async with client.post(url, data=body, headers=headers) as r:
                    async for line in r.content:
                        if line.startswith(b"data: ") and line.startswith(b"data: {\"type\""):
                            count += 1
                if count != n:
                    raise RuntimeError(f"{url}: {count} of {n} events")
                return n / (time.perf_counter() - start)

            async def pair(floor_run, gateway_run) -> tuple[float, float]:  # type: ignore[no-untyped-def]
                """Best of 5 each, floor and gateway taking turns, so that load from elsewhere
                on the machine falls on both alike."""
                floors, gateways = [], []
                for _ in range(5):
                    floors.append(await floor_run())
                    gateways.append(await gateway_run())
                return max(floors), max(gateways)

            remote_call = f"{gw}/v1/agents/remote_bench/sessions/one/call"
            for i in range(200):  # warm up both (connections, the sessions)
                await one(call)
                await one(remote_call)
                await one(f"{gw}/v1/agents/bench/sessions/c{i % 100}/call")
                await one(f"{fl}/plain")

            n_seq, n_conc, n_sse = 2000 // scale, 5000 // scale, 30_000 // scale
            floor_seq, gw_seq = await pair(lambda: sequential(f"{fl}/plain", n_seq),
                                           lambda: sequential(call, n_seq))
            report("floor: plain endpoint, sequential", floor_seq, "req/s")
            report("gateway call, sequential", gw_seq, "req/s", floor_seq, "(target >= 0.6x)")
            floor_seq2, remote_seq = await pair(lambda: sequential(f"{fl}/plain", n_seq),
                                                lambda: sequential(remote_call, n_seq))
            report("floor: plain endpoint, sequential (again)", floor_seq2, "req/s")
            report("gateway call to an HTTPRuntime process", remote_seq, "req/s", floor_seq2,
                   "(target >= 0.35x)")
            floor_conc, gw_conc = await pair(
                lambda: concurrent(f"{fl}/plain", n_conc),
                lambda: concurrent(f"{gw}/v1/agents/bench/sessions/c{{i}}/call", n_conc))
            report("floor: plain endpoint, 100 concurrent callers", floor_conc, "req/s")
            report("gateway call, 100 concurrent callers", gw_conc, "req/s", floor_conc, "(target >= 0.6x)")
            floor_sse, gw_sse = await pair(
                lambda: stream(f"{fl}/sse?n={n_sse}", n_sse, b"{}"),
                lambda: stream(f"{gw}/v1/agents/bench/sessions/one/stream", n_sse,
                               b'{"type":"BCount","content":{"n":%d}}' % n_sse))
            report("floor: plain SSE endpoint", floor_sse, "chunks/s")
            report("gateway stream over SSE", gw_sse, "chunks/s", floor_sse, "(target >= 0.6x)")
            print(f"\nfor scale: the original's HTTP runtime, about 300 sequential req/s here"
                  f" (the gateway: {gw_seq / 300:.1f}x that)")
    finally:
        for proc in (remote, server):
            if proc.stdin:
                proc.stdin.close()
            proc.wait(30)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--serve":
        if "--uvloop" in sys.argv:
            import uvloop

            uvloop.install()
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3])))
    elif len(sys.argv) >= 3 and sys.argv[1] == "--remote":
        if "--uvloop" in sys.argv:
            import uvloop

            uvloop.install()
        asyncio.run(serve_remote(sys.argv[2]))
    else:
        options = parse_args(__doc__ or "")
        options.server = start_server(options.uvloop)
        run(main, options)
