from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def coagent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "coagent", *args], capture_output=True, text=True, timeout=timeout,
        env=env, cwd=ROOT,
    )


def test_demo_runs_and_shows_crash_and_restart() -> None:
    proc = coagent("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "echo:alice  ping 3 -> pong 3 (served 3)" in out
    assert "counter:alice streamed [0, 1, 2, 3, 4]" in out
    assert "tree before the crash:" in out and "tree after the crash and restart:" in out
    before, after = out.split("tree after the crash and restart:")
    assert "restarts=1" not in before
    assert "team.flaky:s1  Flaky  idle  restarts=1" in after
    assert "team.after:s1  Echo  idle  restarts=1" in after
    assert "last error: RuntimeError: simulated failure" in after
    assert "steady kept its state (served 3)" in out
    assert "Traceback" not in proc.stderr


def test_import_is_fast_and_lazy() -> None:
    code = (
        "import sys, time; t = time.perf_counter();"
        "import coagent, coagent.core, coagent.runtimes;"
        "dt = time.perf_counter() - t;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('litellm', 'nats', 'openai', 'httpx')];"
        "print(dt); assert not bad, bad"
    )
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        best = min(best, float(proc.stdout.strip()), time.perf_counter() - start)
    assert best < 0.5, f"importing coagent took {best:.3f}s"


def test_node_without_server_runs_in_process_and_stops_cleanly() -> None:
    import signal

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coagent", "node", "tests/cluster_agents.py:counter"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "serving [counter]" in line and "in-process runtime" in line
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_node_reports_bad_targets() -> None:
    proc = coagent("node", "tests/no_such_file.py")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = coagent("node", "tests/cluster_agents.py:nothing")
    assert proc.returncode == 2 and "has no attribute 'nothing'" in proc.stderr
    proc = coagent("node", "tests/kit.py")
    assert proc.returncode == 2 and "no AgentSpec found" in proc.stderr
