"""Real `coagent gateway` processes, real `node` and `go` processes, on free loopback ports.

``gateway()`` starts ``coagent gateway`` (the agents of tests/gateway/agents.py on its node);
``spawn()`` starts any other process (a Node.js or Go server) and stops it after the test;
``go_bins`` is the Go examples and the Go client's test binary, built once into a temp dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from coagent.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
AGENTS = "tests/gateway/agents.py"
NODE_CLIENT = ROOT / "clients" / "node"
GO_CLIENT = ROOT / "clients" / "go"
GO_EXAMPLES = ROOT / "examples" / "cos" / "go"
TOKEN = "clients-s3cret"


def go_env(tmp: Path) -> dict[str, str]:
    """Go with no module proxy (there is none here, and the client needs none) and caches in tmp."""
    return {**os.environ, "GOPROXY": "off", "GOFLAGS": "", "GOTOOLCHAIN": "local",
            "GOCACHE": os.environ.get("GOCACHE", str(Path.home() / ".cache" / "go-build")),
            "GOPATH": str(tmp / "gopath")}


class Proc:
    """A process whose output is collected by a thread (so a chatty one never blocks)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.args = args
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._new = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()
        with self._new:
            self._new.notify_all()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first line containing ``text`` (fails when the process exits or time is up)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._new:
            while True:
                for line in self.lines[seen:]:
                    if text in line:
                        return line
                seen = len(self.lines)
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"{self.args[0]} exited ({self.proc.returncode}) before {text!r}:\n{self.output}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} from {self.args} within {timeout}s:\n{self.output}")
                self._new.wait(min(left, 0.5))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
        finally:
            self._reader.join(5)


class Gateway:
    """A `coagent gateway` process on a fixed port, so it can be killed and started again."""

    def __init__(self, procs: list[Proc], *args: str) -> None:
        self.procs = procs
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None
        self.start()

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "coagent", "gateway", "--listen", f"127.0.0.1:{self.port}",
               "--agents", AGENTS, *self.args]
        for _ in range(3):  # the port may still be held for a moment after a kill
            self.proc = Proc(cmd, env)
            self.procs.append(self.proc)
            try:
                self.proc.wait_for("listening on")
                return
            except AssertionError:
                if "address already in use" not in self.proc.output.lower():
                    raise
                time.sleep(0.5)
        raise AssertionError(f"port {self.port} stayed busy")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.stop(signal.SIGKILL)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"} if "--auth" in self.args else {}

    def wait_served(self, *names: str, timeout: float = 30.0) -> None:
        """Until every name is an agent type the gateway lists (a client registered it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                agents = httpx.get(f"{self.url}/v1/agents", headers=self.headers(), timeout=5).json()["agents"]
                if set(names) <= {a["name"] for a in agents}:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{names} not registered with {self.url} within {timeout}s")
            time.sleep(0.1)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def gateway(procs: list[Proc]) -> Callable[..., Gateway]:
    """``gateway("--auth", TOKEN)``: a running `coagent gateway` (stopped after the test)."""
    return lambda *args: Gateway(procs, *args)


@pytest.fixture
def spawn(procs: list[Proc]) -> Callable[..., Proc]:
    """``spawn([cmd...], env=..., cwd=...)``: a process stopped after the test."""

    def start(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> Proc:
        proc = Proc(args, env, cwd)
        procs.append(proc)
        return proc

    return start


@pytest.fixture(scope="session")
def node() -> str:
    exe = shutil.which("node")
    assert exe, "node is missing: `make install-clients` installs the clients' tools"
    assert (NODE_CLIENT / "node_modules" / "eventsource-parser").is_dir(), \
        "the Node client's dependency is missing: run `make install-clients` (npm ci)"
    return exe


@pytest.fixture(scope="session")
def go_bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The Go examples (server, caller) and the Go client's test binary, built into a temp dir."""
    go = shutil.which("go")
    assert go, "go is missing: `make install-clients` installs it (apt-get install golang-go)"
    out = tmp_path_factory.mktemp("go-bin")
    env = go_env(out)
    subprocess.run([go, "build", "-o", str(out), "./..."], cwd=GO_EXAMPLES, env=env, check=True,
                   capture_output=True, timeout=600)
    subprocess.run([go, "test", "-c", "-tags", "gateway", "-o", str(out / "client.test"), "."],
                   cwd=GO_CLIENT, env=env, check=True, capture_output=True, timeout=600)
    return {name: str(out / name) for name in ("server", "caller", "client.test")}
