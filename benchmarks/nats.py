"""NATS runtime benchmark: figures and their ratio to floors measured in the same run.

Starts its own nats-server (JetStream on, free port), a plain nats-py responder process
(the floors) and a coagent node process serving benchmarks/nats_node.py.

    .venv/bin/python benchmarks/nats.py [--uvloop] [--quick] [--no-upkeep]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Running this file puts benchmarks/ first on sys.path, where this very file would
# shadow the nats-py package ("import nats"): keep the directory, but last.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))

import asyncio  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import nats  # noqa: E402  (nats-py)
from _common import best_rate, parse_args, report, run  # noqa: E402
from nats.aio.client import __version__ as NATS_PY_VERSION  # noqa: E402
from nats.errors import NoRespondersError  # noqa: E402
from nats.errors import TimeoutError as NatsTimeout  # noqa: E402
from nats_node import BenchPing, echo_spec  # noqa: E402  (also registers BenchPong for replies)

from coagent import Address  # noqa: E402
from coagent.errors import CoagentError  # noqa: E402
from coagent.runtimes import LocalRuntime, NATSRuntime  # noqa: E402
from coagent.testing import NATSServer  # noqa: E402

ECHO_SUBJECT = "bench.echo"
CONCURRENCY = 100
REPO = _HERE.parent
NODE_FILE = _HERE / "nats_node.py"
PAYLOAD = BenchPing(n=1).encode().content  # the floors send the same bytes as the asks


class Child:
    """A child process, its output in a temp file, stopped by PID."""

    def __init__(self, label: str, args: list[str]) -> None:
        self.label = label
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.label} exited with {self.proc.returncode}:\n{self.output()}")

    def output(self) -> str:
        self.out.seek(0)
        return self.out.read().decode(errors="replace")[-3000:]

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.proc
        try:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout)
                except ProcessLookupError:
                    pass
        finally:
            self.out.close()


async def wait_for_responder(nc, child: Child, limit: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while True:
        child.check()
        try:
            await nc.request(ECHO_SUBJECT, PAYLOAD, timeout=0.5)
            return
        except (NoRespondersError, NatsTimeout):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the responder did not answer within {limit:g}s:\n{child.output()}") from None
            await asyncio.sleep(0.05)


async def wait_for_node(rt: NATSRuntime, child: Child, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        child.check()
        try:
            await rt.ask(Address("bench", "s1"), BenchPing(n=1), timeout=2.0)
            return
        except CoagentError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node did not answer within {limit:g}s:\n{child.output()}") from None
            await asyncio.sleep(0.05)


def sequential_asks(rt, address: Address):  # type: ignore[no-untyped-def]
    ping = BenchPing(n=1)

    async def fn(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await rt.ask(address, ping)
        return time.perf_counter() - start

    return fn


def concurrent_asks(rt, sessions: list[Address]):  # type: ignore[no-untyped-def]
    ping = BenchPing(n=1)

    async def fn(n: int) -> float:
        per = n // len(sessions)

        async def client(a: Address) -> None:
            for _ in range(per):
                await rt.ask(a, ping)

        start = time.perf_counter()
        await asyncio.gather(*(client(a) for a in sessions))
        return time.perf_counter() - start

    return fn


async def paired(floor_fn, fn, n: int, rounds: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Best rates of ``floor_fn`` and ``fn``, run alternately so that load from elsewhere
    on the machine hits both alike."""
    floor = rate = 0.0
    for _ in range(rounds):
        floor = max(floor, await best_rate(floor_fn, n, repeats=1))
        rate = max(rate, await best_rate(fn, n, repeats=1))
    return floor, rate


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (this process for ``None``)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_per_call(fn, n: int, pids: list[int | None], repeats: int = 3) -> list[float]:  # type: ignore[no-untyped-def]
    """Microseconds of CPU per call of ``fn(n)`` in each process of ``pids`` (least of ``repeats``).

    Less swayed by other work on the machine than a rate: what it costs, not how long
    it waited for a core.
    """
    best = [float("inf")] * len(pids)
    for _ in range(repeats):
        before = [cpu_seconds(p) for p in pids]
        await fn(n)
        after = [cpu_seconds(p) for p in pids]
        best = [min(b, (a - s) / n * 1e6) for b, a, s in zip(best, after, before, strict=True)]
    return best


def report_cpu(label: str, parts: dict[str, float], floor_total: float | None = None) -> float:
    total = sum(parts.values())
    ratio = f"  {total / floor_total:5.2f}x floor" if floor_total else ""
    detail = ", ".join(f"{name} {us:.1f}" for name, us in parts.items())
    print(f"{label:<48} {total:>12.1f} us/call  {ratio}  ({detail})")
    return total


class Verdicts:
    def __init__(self) -> None:
        self.items: list[tuple[str, float, float]] = []

    def check(self, name: str, value: float, floor: float, target: float) -> None:
        self.items.append((name, value / floor, target))

    def summary(self) -> str:
        parts = [f"{name} {ratio:.2f}x (>= {target}x) {'PASS' if ratio >= target else 'FAIL'}"
                 for name, ratio, target in self.items]
        verdict = "PASS" if all(r >= t for _, r, t in self.items) else "FAIL"
        return f"summary: {verdict}: " + "; ".join(parts)


async def remote(args, url: str, verdicts: Verdicts, children: list[Child],  # type: ignore[no-untyped-def]
                 server_pid: int | None) -> None:
    scale, rounds = (5, 3) if args.quick else (1, 5)
    loop_flag = ["--uvloop"] if args.uvloop else []
    responder = Child("responder", [sys.executable, str(NODE_FILE), url, ECHO_SUBJECT, *loop_flag])
    children.append(responder)
    node = Child("node", [sys.executable, "-m", "coagent", "node", str(NODE_FILE),
                          "--server", url, "--name", "bench-node", *loop_flag])
    children.append(node)

    nc = await nats.connect(url, name="bench-floor")
    try:
        await wait_for_responder(nc, responder)

        async def plain_sequential(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                await nc.request(ECHO_SUBJECT, PAYLOAD, timeout=10)
            return time.perf_counter() - start

        async def plain_concurrent(n: int) -> float:
            per = n // CONCURRENCY

            async def client() -> None:
                for _ in range(per):
                    await nc.request(ECHO_SUBJECT, PAYLOAD, timeout=10)

            start = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
            return time.perf_counter() - start

        async with NATSRuntime.from_servers(url, announce=False) as rt:
            await wait_for_node(rt, node)
            seq = sequential_asks(rt, Address("bench", "s1"))
            await plain_sequential(300)  # warm up both paths
            await seq(300)
            floor_a, rate = await paired(plain_sequential, seq, 3_000 // scale, rounds)
            report("floor A: nats-py request/reply, sequential", floor_a, "rt/s")
            report("sequential ask to another process", rate, "rt/s", floor_a, "(target >= 0.8x)")
            verdicts.check("remote sequential", rate, floor_a, 0.8)

            sessions = [Address("bench", f"c{i}") for i in range(CONCURRENCY)]
            await asyncio.gather(*(rt.ask(a, BenchPing(n=1)) for a in sessions))  # claim them
            conc = concurrent_asks(rt, sessions)
            await plain_concurrent(2_000)
            await conc(2_000)
            floor_b, rate = await paired(plain_concurrent, conc, 10_000 // scale, rounds)
            report(f"floor B: nats-py, {CONCURRENCY} concurrent requesters", floor_b, "req/s")
            report(f"{CONCURRENCY} sessions asking another process", rate, "asks/s", floor_b,
                   "(target >= 0.8x)")
            verdicts.check("remote concurrent", rate, floor_b, 0.8)
            # Where the time goes: CPU per call in each process, 100 sessions (a clock tick
            # is 10 ms, so enough calls for a tenth of a microsecond).
            n = 30_000 // scale
            assert server_pid is not None
            pids: list[int | None] = [None, responder.proc.pid, server_pid]
            caller, served, server = await cpu_per_call(plain_concurrent, n, pids)
            floor_total = report_cpu("CPU per call, nats-py (floor B)",
                                     {"caller": caller, "responder": served, "nats-server": server})
            pids[1] = node.proc.pid
            caller, served, server = await cpu_per_call(conc, n, pids)
            report_cpu("CPU per call, 100 sessions", {"caller": caller, "node": served,
                                                       "nats-server": server}, floor_total)
    finally:
        await nc.close()


async def same_node(args, url: str, verdicts: Verdicts) -> None:  # type: ignore[no-untyped-def]
    scale, rounds = (5, 3) if args.quick else (1, 5)
    addr = Address("bench_local", "one")
    async with LocalRuntime() as local, NATSRuntime.from_servers(url) as rt:
        await local.register(echo_spec("bench_local"))
        await rt.register(echo_spec("bench_local"))
        local_fn = sequential_asks(local, addr)
        nats_fn = sequential_asks(rt, addr)
        await local_fn(1_000)
        await nats_fn(1_000)  # the first ask claims the session; the rest stay in process
        floor_c, rate = await paired(local_fn, nats_fn, 30_000 // scale, rounds)
    report("floor C: LocalRuntime sequential ask", floor_c, "rt/s")
    report("NATSRuntime ask to an actor on this node", rate, "rt/s", floor_c, "(target >= 0.8x)")
    verdicts.check("same node", rate, floor_c, 0.8)


async def claim_upkeep(args, url: str) -> None:  # type: ignore[no-untyped-def]
    """The upkeep of a node's claims per interval, with 100,000 live sessions on it.

    The floor is one KV put on the same bucket kind; the upkeep is whatever the node does
    once per ``claim_ttl / 3`` to keep every claim it holds (one lease put).
    """
    live = 10_000 if args.quick else 100_000
    async with NATSRuntime.from_servers(url, name="bench-upkeep", prefix="upkeep") as rt:
        await rt.register(echo_spec("held"))
        start = time.perf_counter()
        window = 500
        for first in range(0, live, window):
            await asyncio.gather(*(rt.ask(Address("held", f"s{i}"), BenchPing(n=1))
                                   for i in range(first, min(live, first + window))))
        claiming = time.perf_counter() - start
        placement = rt.transport.placement
        claims = placement.claims
        assert claims is not None and len(placement.claimed) == live
        sessions = len(rt.sessions_of("held"))

        async def one_put(n: int) -> float:
            t = time.perf_counter()
            for _ in range(n):
                await claims.leases.put("bench-floor", b"x")
            return time.perf_counter() - t

        async def upkeep(n: int) -> float:
            t = time.perf_counter()
            for _ in range(n):
                await claims.renew()  # the whole per-interval upkeep of keep_lease()
            return time.perf_counter() - t

        floor, rate = await paired(one_put, upkeep, 200, 5)
    print(f"claim upkeep with {sessions:,} live sessions (claimed in {claiming:.1f}s):")
    put_ms, upkeep_ms = 1e3 / floor, 1e3 / rate
    print(f"{'floor D: one KV put':<48} {put_ms:>12.3f} ms")
    print(f"{'claim upkeep per interval (all sessions)':<48} {upkeep_ms:>12.3f} ms"
          f"          {upkeep_ms / put_ms:5.2f}x floor  (one lease put, whatever the sessions)")


async def main(args) -> None:  # type: ignore[no-untyped-def]
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"Python {sys.version.split()[0]}, {loop}, nats-py {NATS_PY_VERSION}\n", flush=True)
    verdicts = Verdicts()
    children: list[Child] = []
    # SIGTERM unwinds like Ctrl-C does, so that the finally blocks stop the child processes.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # type: ignore[union-attr]
    started = time.perf_counter()
    with NATSServer() as server:
        try:
            await remote(args, server.url, verdicts, children, server.pid)
        finally:
            for child in reversed(children):
                child.stop()
        await same_node(args, server.url, verdicts)
        if not args.no_upkeep:
            await claim_upkeep(args, server.url)
    print(f"\n{verdicts.summary()}  ({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    run(main, parse_args(__doc__ or ""))
