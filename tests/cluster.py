"""Node processes for the multi-process tests: ``coagent node`` started and stopped by PID."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from coagent.runtimes import NATSRuntime

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ROOT / "tests" / "cluster_agents.py"


class NodeProcess:
    def __init__(self, url: str, name: str, prefix: str, *options: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COAGENT_NODE": name}
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coagent", "node", str(AGENTS), "--server", url,
             "--name", name, "--prefix", prefix, *options],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()


async def wait_for_nodes(client: NATSRuntime, names: set[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        seen = set(await client.nodes(timeout=0.3))
        if names <= seen:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"nodes {sorted(names - seen)} did not come up")
        await asyncio.sleep(0.1)


async def start_cluster(url: str, prefix: str, count: int) -> tuple[list[NodeProcess], NATSRuntime]:
    procs = [NodeProcess(url, f"{prefix}-n{i}", prefix) for i in range(1, count + 1)]
    client = NATSRuntime.from_servers(url, prefix=prefix, announce=False, default_timeout=30)
    await client.start()
    try:
        await wait_for_nodes(client, {p.name for p in procs})
    except BaseException:
        for p in procs:
            p.stop()
        await client.stop()
        raise
    return procs, client
