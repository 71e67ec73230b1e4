"""The README's quick starts run as written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_in_process_quick_start_runs() -> None:
    proc = subprocess.run([sys.executable, "-c", BLOCKS[0]], capture_output=True, text=True,
                          timeout=60, env=ENV, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:5] == ["Pong(n=1)", "Tick(i=0)", "Tick(i=1)", "Tick(i=2)", "Pong(n=2)"]


def test_nats_quick_start_runs(nats_server, tmp_path) -> None:
    agents = next(b for b in BLOCKS if b.startswith("# agents.py"))
    path = tmp_path / "agents.py"
    path.write_text(agents)
    node = subprocess.Popen(
        [sys.executable, "-m", "coagent", "node", str(path), "--server", nats_server.url, "--name", "node-1"],
        env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert node.stderr is not None
        assert "serving [echo]" in node.stderr.readline()
        deadline = time.monotonic() + 20
        while True:
            proc = subprocess.run(
                [sys.executable, "-m", "coagent", "echo:s1", "-H", "type:Ping", "-d", '{"n": 1}',
                 "--server", nats_server.url], capture_output=True, text=True, timeout=60, env=ENV, cwd=ROOT,
            )
            if proc.returncode == 0 or time.monotonic() > deadline:
                break
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"header": {"type": "Pong"}, "content": {"n": 1}}
    finally:
        node.send_signal(signal.SIGTERM)
        assert node.wait(15) == 0
