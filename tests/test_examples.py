"""Every example runs offline, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(path: Path, *args: str, timeout: float = 60) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=timeout, env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_ping_pong() -> None:
    out = run_example(EXAMPLES / "ping_pong.py")
    assert "alice: pong to 'hi from alice' (this session's pong #2)" in out
    assert "bob: pong to 'hi from bob' (this session's pong #1)" in out
    assert "carol: pong to 'raw'" in out


def test_stream_ping_pong() -> None:
    out = run_example(EXAMPLES / "stream_ping_pong.py")
    lines = out.splitlines()
    assert lines[0].split() == [f"word{i}" for i in range(5)]
    assert lines[1].split() == ["word0", "word1", "word2"]
    assert lines[2] == "stopped after word2"


def test_supervision() -> None:
    out = run_example(EXAMPLES / "supervision.py")
    assert "caller saw: RuntimeError: the worker hit a bad record" in out
    assert '[["pipeline.reader", 0], ["pipeline.parser", 1], ["pipeline.writer", 1]]' in out
    assert "reader: handled 2" in out and "parser: handled 1" in out
    assert out.strip().endswith("sessions left: 0")


@pytest.mark.parametrize(
    "path", sorted(p for p in EXAMPLES.rglob("*.py") if not p.name.startswith("_")),
    ids=lambda p: str(p.relative_to(EXAMPLES)),
)
def test_every_example_is_covered(path: Path) -> None:
    covered = {
        "ping_pong.py", "stream_ping_pong.py", "supervision.py",  # here
        "durable_counter.py",  # tests/durable/test_example.py
        "translator.py",  # tests/agents/test_quick_start.py
        "chaining.py", "parallelization.py", "triaging.py", "handoffs.py", "group_chat.py",  # test_pattern_examples.py
        "mcp_tools.py", "a2a_agents.py",  # tests/interop/test_examples_interop.py
        # examples/original/*: tests/compat/test_original_examples.py
        "server.py", "client.py", "notification.py", "subscriber.py", "notifier.py", "triage.py", "confirm.py",
        "tracing.py",  # tests/observability/test_example.py
    }
    assert path.name in covered, f"add a test that runs {path}"


def test_the_offline_translator_answers_every_request_from_its_phrasebook() -> None:
    sys.path.insert(0, str(EXAMPLES / "translator"))
    try:
        import _phrasebook
    finally:
        sys.path.remove(str(EXAMPLES / "translator"))
    from coagent.testing import ModelRequest

    assert _phrasebook.translate("你好，世界") == "Hello, world!"
    assert _phrasebook.translate("我的朋友是 Ada。") == "My friend am Ada."  # word for word, offline
    assert _phrasebook.translate("飞机很好") == "飞机 is very good"  # unknown words are kept
    for n in range(1, 50):  # not a fixed list of steps: request #n gets an answer too
        request = ModelRequest(messages=[{"role": "user", "content": "谢谢"}], index=n)
        assert _phrasebook.respond(request).content == "Thank you"
