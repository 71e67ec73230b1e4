"""kill -9 of a LocalRuntime process with a SQLite store: nothing accepted is lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _spawn(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.durable.proc_local", str(db), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def _check(db: Path) -> dict[str, Any]:
    proc = _spawn(db, "check")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_tells_accepted_before_a_kill_9_are_handled_after_the_restart(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    proc = _spawn(db, "tell", "400")
    assert proc.stdout is not None
    accepted = -1
    deadline = time.monotonic() + 60
    while accepted < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        accepted = int(line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    rest = proc.stdout.read()  # lines still buffered or in the pipe were accepted too
    for line in rest.splitlines():
        accepted = int(line.split()[1])
    result = _check(db)
    # Every accepted tell is applied exactly once, in order; the one in flight at the kill
    # may or may not have been stored before it.
    assert accepted + 1 <= len(result["seen"]) <= accepted + 2, (accepted, result["seen"][-5:])
    assert result["seen"] == list(range(len(result["seen"])))
    assert result["n"] == sum(result["seen"])


def test_a_message_redelivered_after_a_crash_between_write_and_ack_is_not_applied_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    proc = _spawn(db, "tell", "10", env={"COAGENT_TEST_EXIT_IN_ACK": "4"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 137, err
    assert "crashing in ack" in out
    result = _check(db)
    assert len(result["seen"]) >= 4
    assert result["seen"] == list(range(len(result["seen"])))
    # The fourth message's state was written, its ack was not: redelivered, recognised, skipped.
    assert result["applied"] == len(result["seen"]) + 1  # the check's own ask counts as applied


def test_a_crash_right_after_sqlite_committed_a_state_and_its_ack_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    # Queued tells share a write (group apply): the first write may hold several.
    proc = _spawn(db, "tell", "10", env={"COAGENT_TEST_EXIT_AFTER_SAVE": "1"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 137, err
    assert "crashing after save" in out
    accepted = out.count("accepted")
    result = _check(db)
    assert result["seen"] == list(range(len(result["seen"])))
    assert len(result["seen"]) >= max(accepted, 1)
    assert result["applied"] == len(result["seen"]) + 1  # each once, and the check's ask
