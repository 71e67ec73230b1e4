"""The Node.js and Go clients through a real `coagent gateway` process.

    python benchmarks/clients.py [--quick]

Each client, in its own process, measures against the same gateway: its own floor (the same
client calling the gateway's plain endpoint, GET /v1/health: the same HTTP stack answering a
small JSON), sequential asks to a Python agent on the gateway's node and to an agent the client
itself serves, and streamed replies per second (streams of 2,000) from both. Every figure is
printed with its ratio to the floor of the same client in the same run (streams: to the Python
agent's stream, the gateway's own SSE path).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coagent.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke run)")
    args = parser.parse_args()
    seconds = "0.5" if args.quick else "3"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    gateway = subprocess.Popen([sys.executable, "-m", "coagent", "gateway", "--listen", f"127.0.0.1:{port}",
                                "--agents", "tests/gateway/agents.py"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert gateway.stderr is not None
        deadline = time.monotonic() + 60
        while "listening on" not in gateway.stderr.readline():
            if gateway.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the gateway did not start")
        results = {}
        node = shutil.which("node")
        go = shutil.which("go")
        if node is None or go is None:
            raise SystemExit("node and go are needed: make install-clients")
        out = subprocess.run([node, "benchmarks/clients/bench.mjs", url, seconds], cwd=ROOT, capture_output=True,
                             text=True, timeout=600, check=True)
        results["Node.js"] = json.loads(out.stdout.strip().splitlines()[-1])
        with tempfile.TemporaryDirectory() as tmp:
            genv = {**os.environ, "GOPROXY": "off", "GOFLAGS": "", "GOPATH": str(Path(tmp) / "gopath")}
            subprocess.run([go, "build", "-o", str(Path(tmp) / "bench"), "."], cwd=ROOT / "benchmarks/clients/go",
                           env=genv, check=True, capture_output=True, timeout=600)
            out = subprocess.run([str(Path(tmp) / "bench"), url, seconds], capture_output=True, text=True,
                                 timeout=600, check=True)
        results["Go"] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(20)
    for lang, r in results.items():
        own = "node" if lang == "Node.js" else "go"
        floor, sfloor = r["floor"], r["stream_python"]
        print(f"{lang} client")
        print(f"  floor: GET /v1/health, sequential        {floor:9,.0f} req/s")
        print(f"  ask a Python agent, sequential           {r['ask_python']:9,.0f} req/s ({r['ask_python'] / floor:.2f}x)")
        print(f"  ask a {lang} agent it serves, sequential {r['ask_' + own]:9,.0f} req/s "
              f"({r['ask_' + own] / floor:.2f}x)")
        print(f"  stream from a Python agent               {sfloor:9,.0f} items/s")
        print(f"  stream from a {lang} agent it serves     {r['stream_' + own]:9,.0f} items/s "
              f"({r['stream_' + own] / sfloor:.2f}x)")


if __name__ == "__main__":
    main()
