"""What the gateway's store costs a durable tell to an HTTP-served type, as a ratio to the
same tells through a gateway without a store, measured in the same run.

    .venv/bin/python benchmarks/http_durable.py [--uvloop] [--quick]

Two setups run side by side, each a ``coagent gateway`` process whose agent ``hfanout``
tells the durable ``hcounter`` served by a ``coagent node --server http://...`` process
with its own SQLite store (``benchmarks/http_durable_agents.py``):

- without ``--store`` on the gateway (the floor): a tell from the gateway's process returns
  once the serving process has it; it is kept by nobody until that process stores it;
- with ``--store``: the gateway stores the tell first (its relay session), and the tell
  returns once stored there; the relay acknowledges it after the serving process's commit.

100 fan-out sessions at once, each telling its own counter session one tell after the
other; a round ends when every counter has all its tells (asked over HTTP). Rounds of the
two setups take turns; the best of each is reported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))

import asyncio  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from _common import parse_args, report, run  # noqa: E402

REPO = _HERE.parent
AGENTS = "benchmarks/http_durable_agents.py"
CONCURRENCY = 100
ROUNDS = 3


class Proc:
    """A ``coagent`` process; its stderr read up to a line, stopped by PID."""

    def __init__(self, args: list[str], uvloop: bool) -> None:
        cmd = [sys.executable, "-m", "coagent", *args] + (["--uvloop"] if uvloop else [])
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(REPO)})
        self.lines: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"exited ({self.proc.wait()}): {''.join(self.lines)}")
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                # Drain the rest in the background: a full pipe would block the process.
                import threading

                threading.Thread(target=self.proc.stderr.read, daemon=True).start()
                return found
        raise RuntimeError(f"no {pattern!r} within {timeout}s: {''.join(self.lines)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start(tmp: str, label: str, gateway_store: bool, uvloop: bool) -> tuple[list[Proc], str]:
    store = ["--store", os.path.join(tmp, f"{label}-gateway.db")] if gateway_store else []
    gateway = Proc(["gateway", "--listen", "127.0.0.1:0", "--agents", f"{AGENTS}:hfanout",
                    *store], uvloop)
    procs = [gateway]
    try:
        url = gateway.wait_for(r"listening on (https?://\S+)").group(1)
        node = Proc(["node", f"{AGENTS}:hcounter", "--server", url,
                     "--store", os.path.join(tmp, f"{label}-node.db")], uvloop)
        procs.append(node)
        node.wait_for(r"serving \[hcounter\]")
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs, url


async def tells(client: Any, url: str, prefix: str, per: int) -> float:
    """Tells/s: CONCURRENCY fan-out sessions, ``per`` tells each, until every one is applied."""
    headers = {"Content-Type": "application/json", "Coagent-Timeout": "120"}

    async def fan(i: int) -> None:
        body = b'{"type":"HFan","content":{"count":%d}}' % per
        async with client.post(f"{url}/v1/agents/hfanout/sessions/{prefix}{i}/call", data=body,
                               headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"fan-out {i}: {r.status} {await r.text()}")

    async def confirm(i: int) -> None:
        while True:
            async with client.post(f"{url}/v1/agents/hcounter/sessions/{prefix}{i}/call",
                                   data=b'{"type":"HGet","content":{}}', headers=headers) as r:
                body = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"count {i}: {r.status} {body}")
                if body["content"].get("n", 0) >= per:
                    return
            await asyncio.sleep(0.01)

    start = time.perf_counter()
    await asyncio.gather(*(fan(i) for i in range(CONCURRENCY)))
    await asyncio.gather(*(confirm(i) for i in range(CONCURRENCY)))
    return per * CONCURRENCY / (time.perf_counter() - start)


async def main(args: Any) -> None:
    import aiohttp

    per = 10 if args.quick else 40
    tmp = tempfile.mkdtemp(prefix="coagent-http-durable-bench-")
    print(f"durable tells from an agent in the gateway's process to an HTTP-served durable type,"
          f" {CONCURRENCY} x {per}{' (uvloop)' if args.uvloop else ''}")
    setups = {}
    try:
        setups["floor"] = start(tmp, "floor", False, args.uvloop)
        setups["store"] = start(tmp, "store", True, args.uvloop)
        rates: dict[str, list[float]] = {"floor": [], "store": []}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as client:
            for _procs, url in setups.values():
                await tells(client, url, "warm", 5)
            for r in range(ROUNDS):
                for label, (_procs, url) in setups.items():
                    rates[label].append(await tells(client, url, f"r{r}-", per))
        floor = max(rates["floor"])
        report("floor: gateway without a store", floor, "tells/s", None, f"(best of {ROUNDS})")
        ratios = [s / f for s, f in zip(rates["store"], rates["floor"], strict=True)]
        report("gateway with --store (its relay stores each tell)", max(rates["store"]),
               "tells/s", floor, f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x)")
    finally:
        for procs, _url in setups.values():
            for proc in reversed(procs):
                proc.stop()


if __name__ == "__main__":
    run(main, parse_args(__doc__ or ""))
