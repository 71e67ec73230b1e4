"""What tracing costs: the local and NATS hot paths without the otel extra, with it and
tracing off, and with tracing (and metrics) on, measured in the same run.

    .venv/bin/python benchmarks/tracing.py [--quick] [--rounds 3]

Each mode runs in a child process of its own, the modes interleaved round by round (so
the load of a shared machine falls on all of them alike); each figure is the best over
the rounds, printed with its ratio to the floor measured in the same child (an
asyncio.Queue ping-pong for the local runtime, plain nats-py request/reply for NATS) and
to the same figure without the extra. ``none`` makes ``opentelemetry`` unimportable, as
on an install without ``coagent[otel]``; ``on`` exports every span through a
BatchSpanProcessor to an exporter that drops them (the cost of making and queueing spans,
not of a network); ``on+metrics`` also records the metrics.

A shared machine's noise is larger than the few percent being looked for, so one more
child measures the cost of tracing on by alternation in one process: blocks of calls with
tracing on and off in turn (``enable_tracing``/``disable_tracing`` between blocks), the
best block of each kept, so both sides see the same load.

The cost when off, on the project's own benchmarks::

    .venv/bin/python benchmarks/tracing.py --off-cost [--rounds 5] [--baseline DIR] [--full]

runs ``benchmarks/local.py`` and ``benchmarks/nats.py`` (``--quick`` unless ``--full``) in
turn, round by round: without the extra (``none``), with it and tracing off (``off``), and,
given ``--baseline DIR`` (a tree without the observability hooks, e.g. ``git archive`` of
the commit before them), on that tree. Each figure is the best over the rounds, printed
with its ratio to the floor its own run measured, and both against ``none``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# benchmarks/nats.py would shadow the nats-py package: keep this directory last.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

MODES = ("none", "off", "on", "on+metrics")


class _NoOpenTelemetry:
    """A meta-path finder that makes ``opentelemetry`` unimportable (the extra not installed)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def setup(mode: str) -> None:
    if mode == "none":
        sys.meta_path.insert(0, _NoOpenTelemetry())
        from coagent.observability import ObservabilityUnavailable, enable_tracing

        try:
            enable_tracing()
        except ObservabilityUnavailable:
            return
        raise RuntimeError("opentelemetry is still importable")
    if mode == "off":
        import opentelemetry.sdk.trace  # noqa: F401  (installed and loaded, but not switched on)
        return
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from coagent.observability import enable_metrics, enable_tracing

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=1 << 16))
    enable_tracing(provider)
    if mode == "on+metrics":
        from opentelemetry.sdk.metrics import MeterProvider

        enable_metrics(MeterProvider())


async def child(mode: str, server: str, scale: int) -> dict[str, float]:
    setup(mode)
    import nats
    from _common import best_rate, queue_ping_pong
    from nats_node import BenchPing, echo_spec

    from coagent import Address
    from coagent.runtimes import LocalRuntime, NATSRuntime

    out: dict[str, float] = {"floor local": await best_rate(queue_ping_pong, 50_000 // scale)}
    ping = BenchPing(n=1)
    async with LocalRuntime() as rt:
        await rt.register(echo_spec())
        addr = Address("bench", "one")
        await rt.ask(addr, ping)

        async def asks(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                await rt.ask(addr, ping)
            return time.perf_counter() - start

        out["local sequential ask"] = await best_rate(asks, 50_000 // scale)

        async def tells(n: int) -> float:
            target = Address("bench", "tell")
            start = time.perf_counter()
            for _ in range(n):
                await rt.tell(target, ping)
            await rt.ask(target, ping)
            return time.perf_counter() - start

        out["local one-way tell"] = await best_rate(tells, 100_000 // scale)

    nc = await nats.connect(server)
    payload = ping.encode().content

    async def respond(msg: Any) -> None:
        await msg.respond(msg.data)

    await nc.subscribe("bench.floor", cb=respond)

    async def floor(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await nc.request("bench.floor", payload, timeout=5)
        return time.perf_counter() - start

    out["floor nats"] = await best_rate(floor, 5_000 // scale)
    await nc.close()
    prefix = f"bt{os.getpid()}"
    async with NATSRuntime.from_servers(server, prefix=prefix, name=f"n{os.getpid()}") as node, \
            NATSRuntime.from_servers(server, prefix=prefix, announce=False) as client:
        await node.register(echo_spec())
        remote = Address("bench", "s1")
        await client.ask(remote, ping, timeout=10)

        async def remote_asks(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                await client.ask(remote, ping)
            return time.perf_counter() - start

        out["nats sequential ask"] = await best_rate(remote_asks, 5_000 // scale)
    return out


async def alternating(server: str, scale: int, blocks: int = 8) -> dict[str, float]:
    """Seconds per message, tracing on and off in alternate blocks (best block of each)."""
    from nats_node import BenchPing, echo_spec
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from coagent import Address
    from coagent.observability import disable_tracing, enable_tracing
    from coagent.runtimes import LocalRuntime, NATSRuntime

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=1 << 16))
    ping = BenchPing(n=1)
    out: dict[str, float] = {}

    async def measure(label: str, call: Any, n: int, settle: Any = None) -> None:
        best = {True: float("inf"), False: float("inf")}
        for i in range(blocks * 2):
            on = i % 2 == 1
            if on:
                enable_tracing(provider)
            else:
                disable_tracing()
            start = time.perf_counter()
            for _ in range(n):
                await call()
            if settle is not None:
                await settle()  # the tells are handled inside the timed block
            best[on] = min(best[on], (time.perf_counter() - start) / n)
        disable_tracing()
        out[f"{label} off"], out[f"{label} on"] = best[False], best[True]

    async with LocalRuntime() as rt:
        await rt.register(echo_spec())
        addr = Address("bench", "one")
        await rt.ask(addr, ping)
        await measure("local sequential ask", lambda: rt.ask(addr, ping), 5_000 // scale)
        target = Address("bench", "tell")
        await measure("local one-way tell", lambda: rt.tell(target, ping), 10_000 // scale,
                      lambda: rt.ask(target, ping))
    prefix = f"ba{os.getpid()}"
    async with NATSRuntime.from_servers(server, prefix=prefix, name=f"a{os.getpid()}") as node, \
            NATSRuntime.from_servers(server, prefix=prefix, announce=False) as client:
        await node.register(echo_spec())
        remote = Address("bench", "s1")
        await client.ask(remote, ping, timeout=10)
        await measure("nats sequential ask", lambda: client.ask(remote, ping), 1_000 // scale)
    provider.shutdown()
    return out


FLOORS = {"local sequential ask": "floor local", "local one-way tell": "floor local",
          "nats sequential ask": "floor nats"}


_LINE = re.compile(r"^(?P<label>\S.*?)\s{2,}(?P<value>[\d,]+)\s+(?P<unit>\S+)"
                   r"(?:\s+(?P<ratio>[\d.]+)x floor)?")
# The child's first lines when the extra is "not installed" (as _NoOpenTelemetry does here).
_BLOCK = """
class NoOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoOpenTelemetry())
"""


def _run_script(tree: Path, script: str, block: bool, full: bool) -> dict[str, tuple[float, float]]:
    """``benchmarks/<script>`` of ``tree`` in a child: {figure: (value, ratio to its floor)}."""
    args = [] if full else ["--quick"]
    if script == "nats.py":
        args.append("--no-upkeep")  # 100,000 sessions: minutes, and no flag on its path
    path = tree / "benchmarks" / script
    code = (f"import runpy, sys\n{_BLOCK if block else ''}\nsys.argv = [{str(path)!r}, *{args!r}]\n"
            f"runpy.run_path({str(path)!r}, run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=900, env=env, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"{path} failed:\n{done.stderr[-3000:]}")
    out: dict[str, tuple[float, float]] = {}
    for line in done.stdout.splitlines():
        found = _LINE.match(line)
        if found and found["ratio"] and not line.startswith("floor"):
            out[found["label"].strip()] = (float(found["value"].replace(",", "")), float(found["ratio"]))
    return out


def off_cost(rounds: int, baseline: Path | None, full: bool) -> None:
    """The cost of tracing off on benchmarks/local.py and nats.py (see the module's docstring)."""
    here = _HERE.parent
    setups = {"none": (here, True), "off": (here, False)}
    if baseline is not None:
        setups["no hooks"] = (baseline.resolve(), False)
    best: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in setups}
    started = time.monotonic()
    for _ in range(rounds):
        for script in ("local.py", "nats.py"):
            for mode, (tree, block) in setups.items():
                for figure, (value, ratio) in _run_script(tree, script, block, full).items():
                    old = best[mode].get(figure, (0.0, 0.0))
                    best[mode][figure] = (max(old[0], value), max(old[1], ratio))
    print(f"Python {sys.version.split()[0]}; benchmarks/local.py and nats.py"
          f"{'' if full else ' --quick'}, best of {rounds} interleaved rounds"
          f" ({time.monotonic() - started:.0f} s)\n")
    print(f"{'figure':<44}{'mode':<10}{'rate':>12}  {'x floor':>8}  {'rate/none':>9}  {'x floor/none':>12}")
    for figure in best["none"]:
        base_value, base_ratio = best["none"][figure]
        for mode in setups:
            value, ratio = best[mode].get(figure, (0.0, 0.0))
            print(f"{figure:<44}{mode:<10}{value:>12,.0f}  {ratio:>8.3f}  {value / base_value:>9.3f}"
                  f"  {ratio / base_ratio:>12.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every mode (best kept)")
    parser.add_argument("--off-cost", action="store_true",
                        help="tracing off vs without the extra on benchmarks/local.py and nats.py")
    parser.add_argument("--baseline", type=Path, help="with --off-cost: a tree without the hooks too")
    parser.add_argument("--full", action="store_true", help="with --off-cost: the scripts' full runs")
    parser.add_argument("--child", choices=(*MODES, "alternating"), help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    if args.off_cost:
        off_cost(args.rounds, args.baseline, args.full)
        return
    if args.child == "alternating":
        print(json.dumps(asyncio.run(alternating(args.server, scale))))
        return
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.server, scale))))
        return

    from coagent.testing import NATSServer

    best: dict[str, dict[str, float]] = {m: {} for m in MODES}
    with NATSServer() as server:
        cmd = [sys.executable, __file__, "--child", "alternating", "--server", server.url]
        done = subprocess.run(cmd + (["--quick"] if args.quick else []), capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"the alternating run failed:\n{done.stderr[-3000:]}")
        alternate = json.loads(done.stdout.strip().splitlines()[-1])
        for _ in range(args.rounds):
            for mode in MODES:
                cmd = [sys.executable, __file__, "--child", mode, "--server", server.url]
                if args.quick:
                    cmd.append("--quick")
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if done.returncode != 0:
                    raise RuntimeError(f"mode {mode} failed:\n{done.stderr[-3000:]}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                for key, value in figures.items():
                    best[mode][key] = max(best[mode].get(key, 0.0), value)
    print(f"Python {sys.version.split()[0]}; best of {args.rounds} rounds, modes interleaved\n")
    print(f"{'figure':<24}{'mode':<12}{'rate':>12}  {'x floor':>8}  {'x no extra':>10}  cost per message")
    for figure, floor in FLOORS.items():
        base = best["none"][figure]
        for mode in MODES:
            rate = best[mode][figure]
            cost = (1 / rate - 1 / base) * 1e6
            print(f"{figure:<24}{mode:<12}{rate:>12,.0f}  {rate / best[mode][floor]:>8.3f}  "
                  f"{rate / base:>10.3f}  {cost:+.2f} us")
    for floor in ("floor local", "floor nats"):
        print(f"{floor:<24}{'':<12}" + "  ".join(f"{m}={best[m][floor]:,.0f}" for m in MODES))
    print("\nin one process, tracing on and off in alternate blocks (best block of each):")
    for figure in FLOORS:
        off, on = alternate[f"{figure} off"], alternate[f"{figure} on"]
        print(f"{figure:<24} off {1 / off:>10,.0f}/s  on {1 / on:>10,.0f}/s  on/off {off / on:.3f}"
              f"  cost per message {(on - off) * 1e6:+.2f} us")


if __name__ == "__main__":
    main()
