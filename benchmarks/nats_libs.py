"""The NATS library questions, measured: nats-py's request mux and nats.micro vs ours.

    .venv/bin/python benchmarks/nats_libs.py [--uvloop] [--quick]

1. Reply multiplexing: 100 concurrent requesters against a plain nats-py responder in
   another process, through ``nc.request`` (the floor: nats-py's ``_resp_map`` mux over
   ``new_inbox`` tokens, sending the same headers) and through coagent's ``Caller.request`` (our mux; it also
   builds the coagent headers and checks the reply's).
2. Serving: a ``nats.micro`` endpoint (ADR-32 services API) against a plain subscription
   answering the same requests, both in this process (the floor: the plain subscription).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# As in benchmarks/nats.py: this directory must not shadow the nats-py package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))

import asyncio  # noqa: E402
import time  # noqa: E402

import nats  # noqa: E402  (nats-py)
from _common import best_rate, parse_args, report, run  # noqa: E402
from nats import micro  # noqa: E402
from nats_node import BenchPing  # noqa: E402

from coagent import Address  # noqa: E402
from coagent.testing import NATSServer  # noqa: E402
from coagent.transport.base import Route  # noqa: E402
from coagent.transport.deadlines import DeadlineWheel  # noqa: E402
from coagent.transport.nats.caller import Caller  # noqa: E402
from coagent.transport.nats.connection import Connection  # noqa: E402
from coagent.transport.nats.placement import Placement  # noqa: E402
from coagent.transport.subjects import Subjects  # noqa: E402
from coagent.transport.wire import KIND_ASK  # noqa: E402

CONCURRENCY = 100
PAYLOAD = BenchPing(n=1).encode()


def concurrent(call, per_client: int):  # type: ignore[no-untyped-def]
    async def fn(n: int) -> float:
        per = n // CONCURRENCY

        async def client() -> None:
            for _ in range(per):
                await call()

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        return time.perf_counter() - start

    return fn


async def paired(floor_fn, fn, n: int, rounds: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    floor = rate = 0.0
    for _ in range(rounds):
        floor = max(floor, await best_rate(floor_fn, n, repeats=1))
        rate = max(rate, await best_rate(fn, n, repeats=1))
    return floor, rate


async def main(args) -> None:  # type: ignore[no-untyped-def]
    scale, rounds = (5, 2) if args.quick else (1, 4)
    n = 20_000 // scale
    loop = asyncio.get_running_loop()
    print(f"Python {sys.version.split()[0]}, {'uvloop' if args.uvloop else 'asyncio'}\n")
    with NATSServer() as server:
        subject = "bench.n.resp.echo.s"
        flag = ["--uvloop"] if args.uvloop else []
        responder = await asyncio.create_subprocess_exec(
            sys.executable, str(_HERE / "nats_node.py"), server.url, subject, *flag,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            nc = await nats.connect(server.url)
            for _ in range(200):
                try:
                    await nc.request(subject, PAYLOAD.content, timeout=0.5)
                    break
                except Exception:
                    await asyncio.sleep(0.05)
            conn = Connection([server.url], name="bench-caller")
            await conn.connect()
            subjects = Subjects("bench", "caller")
            wheel = DeadlineWheel(loop)
            caller = Caller(conn, subjects, Placement(conn, subjects, lease_ttl=15), wheel.at)
            await caller.start()
            route, address = Route("resp"), Address("echo", "s")

            # The same headers as our calls carry, so that only the muxes differ.
            headers = {"type": "BenchPing", "timeout": "10.000"}

            async def library() -> None:
                await nc.request(subject, PAYLOAD.content, timeout=10, headers=headers)

            async def ours() -> None:
                await caller.request(address, PAYLOAD, KIND_ASK, loop.time() + 10, None, route, True)

            await concurrent(library, 0)(2_000)
            await concurrent(ours, 0)(2_000)
            floor, rate = await paired(concurrent(library, 0), concurrent(ours, 0), n, rounds)
            report("floor: nc.request, 100 concurrent (nats-py mux)", floor, "req/s")
            report("Caller.request, 100 concurrent (our mux)", rate, "req/s", floor)
            await conn.close()
            await nc.close()
        finally:
            responder.terminate()
            await responder.wait()

        # 2. serving: a plain subscription vs a nats.micro endpoint
        serve_nc = await nats.connect(server.url)
        ask_nc = await nats.connect(server.url)

        async def plain_echo(msg) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(msg.data)

        await serve_nc.subscribe("bench.plain", cb=plain_echo)

        async def micro_echo(req) -> None:  # type: ignore[no-untyped-def]
            await req.respond(req.data)

        service = await micro.add_service(serve_nc, name="bench", version="1.0.0")
        await service.add_endpoint(name="echo", subject="bench.micro", handler=micro_echo)
        await serve_nc.flush()

        async def to_plain() -> None:
            await ask_nc.request("bench.plain", PAYLOAD.content, timeout=10)

        async def to_micro() -> None:
            await ask_nc.request("bench.micro", PAYLOAD.content, timeout=10)

        await concurrent(to_plain, 0)(2_000)
        await concurrent(to_micro, 0)(2_000)
        floor, rate = await paired(concurrent(to_plain, 0), concurrent(to_micro, 0), n, rounds)
        report("floor: plain subscription responder", floor, "req/s")
        report("nats.micro endpoint responder", rate, "req/s", floor)
        await service.stop()
        await serve_nc.close()
        await ask_nc.close()


if __name__ == "__main__":
    run(main, parse_args(__doc__ or ""))
