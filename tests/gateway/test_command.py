"""`coagent gateway` as a process: hub mode, in front of a NATS cluster, auth, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from coagent.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
AGENTS = "tests/gateway/agents.py"


class Proc:
    """A `coagent ...` process; stopped by its PID."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "coagent", *args], env=env, cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Read stderr until a line matches (the process prints what it serves and where)."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"exited ({self.proc.wait()}) before {pattern!r}: {self.lines}")
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no {pattern!r} within {timeout}s: {self.lines}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            if self.proc.stderr and not self.proc.stderr.closed:
                self.lines.extend(self.proc.stderr.read().splitlines(keepends=True))
                self.proc.stderr.close()


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop(signal.SIGKILL)


def start_gateway(procs: list[Proc], *args: str) -> tuple[Proc, str]:
    proc = Proc("gateway", "--listen", "127.0.0.1:0", *args)
    procs.append(proc)
    url = proc.wait_for(r"listening on (https?://\S+)").group(1)
    return proc, url


def test_the_gateway_command_serves_calls_and_exits_0_on_sigterm(procs: list[Proc]) -> None:
    proc, url = start_gateway(procs, "--agents", AGENTS, "--auth", "s3cret")
    headers = {"Authorization": "Bearer s3cret"}
    r = httpx.post(f"{url}/v1/agents/echo/sessions/s1/call", json={"type": "GPing", "content": {"n": 4}},
                   headers=headers)
    assert r.status_code == 200 and r.json() == {"type": "GPong", "content": {"n": 4}}
    assert httpx.get(f"{url}/v1/agents").status_code == 401
    with httpx.Client() as client, connect_sse(client, "POST", f"{url}/v1/agents/echo/sessions/s1/stream",
                                               json={"type": "GCount", "content": {"n": 2}},
                                               headers=headers) as source:
        assert [e.event for e in source.iter_sse()] == ["message", "message", "end"]
    assert proc.stop(signal.SIGTERM) == 0
    assert "stopping" in "".join(proc.lines) and "Traceback" not in "".join(proc.lines)


def test_the_gateway_command_exits_0_on_ctrl_c(procs: list[Proc]) -> None:
    proc, url = start_gateway(procs)
    assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}
    assert proc.stop(signal.SIGINT) == 0
    assert not any("/v1/health" in line for line in proc.lines)  # no access log unless asked


def test_the_access_log_has_a_line_per_request(procs: list[Proc]) -> None:
    proc, url = start_gateway(procs, "--access-log", "-v")
    assert httpx.get(f"{url}/v1/health").status_code == 200
    assert proc.stop() == 0
    assert any("GET /v1/health" in line and "200" in line for line in proc.lines), proc.lines


def test_listening_beyond_loopback_without_auth_prints_a_warning(procs: list[Proc]) -> None:
    proc = Proc("gateway", "--listen", "0.0.0.0:0")
    procs.append(proc)
    proc.wait_for("listening on")
    assert any("WARNING" in line and "without authentication" in line for line in proc.lines)
    assert proc.stop() == 0


def test_loopback_or_auth_prints_no_warning(procs: list[Proc], tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# ci\nt1\nt2\n")
    proc, url = start_gateway(procs, "--auth-file", str(tokens))
    assert not any("WARNING" in line for line in proc.lines)
    assert httpx.get(f"{url}/v1/tree", headers={"Authorization": "Bearer t2"}).status_code == 200
    assert proc.stop() == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--auth", "a", "--auth-file", "f"], "not both"),
    (["--listen", "nowhere"], "HOST:PORT"),
    (["--server", "http://localhost:{port}"], "nats://"),
    (["--tls-cert", AGENTS], "both --tls-cert and --tls-key"),
])
def test_bad_options_are_refused_clearly(args: list[str], message: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [arg.format(port=free_port()) for arg in args]  # a made-up address, never a fixed port
    proc = subprocess.run([sys.executable, "-m", "coagent", "gateway", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_the_gateway_reaches_agents_on_a_nats_node_process(procs: list[Proc], nats_server) -> None:  # type: ignore[no-untyped-def]
    prefix = "gw" + str(os.getpid())
    node = Proc("node", AGENTS, "--server", nats_server.url, "--name", "agents-1", "--prefix", prefix)
    procs.append(node)
    node.wait_for("serving")
    proc, url = start_gateway(procs, "--server", nats_server.url, "--prefix", prefix, "--name", "gw-1")
    with httpx.Client(base_url=url, timeout=20) as client:
        deadline = time.monotonic() + 30
        while True:
            agents = client.get("/v1/agents").json()["agents"]
            if any(a["name"] == "echo" and "agents-1" in a["nodes"] for a in agents):
                break
            assert time.monotonic() < deadline, agents
            time.sleep(0.2)
        r = client.post("/v1/agents/echo/sessions/n1/call", json={"type": "GPing", "content": {"n": 9}})
        assert r.status_code == 200 and r.json() == {"type": "GPong", "content": {"n": 9}}
        with connect_sse(client, "POST", "/v1/agents/echo/sessions/n1/stream",
                         json={"type": "GCount", "content": {"n": 3}}) as source:
            events = [(e.id, e.event, json.loads(e.data)) for e in source.iter_sse()]
        assert events[-1] == ("4", "end", {"count": 3})
        assert [d["content"] for _, kind, d in events if kind == "message"] == [{"i": 0}, {"i": 1}, {"i": 2}]
        # Errors raised on the other node keep their type and status.
        r = client.post("/v1/agents/echo/sessions/n1/call", json={"type": "Nope"})
        assert r.status_code == 400 and r.json()["code"] == "unknown_message"
        r = client.post("/v1/agents/echo/sessions/n1/call", json={"type": "GBoom"})
        assert r.status_code == 500 and r.json()["code"] == "agent_crashed"
        r = client.post("/v1/agents/echo/sessions/n1/call", json={"type": "GSleep", "content": {"seconds": 30}},
                        headers={"Coagent-Timeout": "0.5"})
        assert r.status_code == 504 and r.json()["code"] == "deadline_exceeded"
        r = client.post("/v1/agents/ghost/sessions/n1/call", json={"type": "GPing"})
        assert r.status_code == 404 and r.json()["code"] == "agent_not_found"
        r = client.post("/runtime/channel/publish", json={
            "addr": {"name": "echo", "id": "n1"}, "msg": {"header": {"type": "GPing"}, "content": '{"n": 5}'},
            "request": True})
        assert r.status_code == 200 and json.loads(r.json()["content"]) == {"n": 5}
        trees = client.get("/v1/tree").json()["nodes"]
        serving = [t for t in trees if t["node"] == "agents-1"]
        assert serving and "n1" in [s["session"] for a in serving[0]["agents"] for s in a["sessions"]]

        # A client that goes away cancels the handler on the other node.
        def status(session: str) -> str | None:
            for tree in client.get("/v1/tree").json()["nodes"]:
                for agent in tree["agents"]:
                    for s in agent["sessions"]:
                        if s["session"] == session:
                            return str(s["status"])
            return None

        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/agents/echo/sessions/gone/call", timeout=httpx.Timeout(20, read=1.0),
                       json={"type": "GSleep", "content": {"seconds": 60}})
        deadline = time.monotonic() + 15
        while status("gone") != "idle":
            assert time.monotonic() < deadline, f"the remote handler is still {status('gone')}"
            time.sleep(0.1)
    assert proc.stop() == 0
    assert node.stop() == 0


def test_sigterm_with_a_stream_open_ends_it_and_exits_0(procs: list[Proc]) -> None:
    proc, url = start_gateway(procs, "--agents", AGENTS)
    seen = 0
    with httpx.Client(timeout=20) as client, connect_sse(
        client, "POST", f"{url}/v1/agents/echo/sessions/s1/stream",
        json={"type": "GCount", "content": {"n": 100000, "delay": 0.02}},
    ) as source:
        try:
            for _event in source.iter_sse():
                seen += 1
                if seen == 3:
                    os.kill(proc.proc.pid, signal.SIGTERM)
        except httpx.HTTPError:
            pass  # the connection closed mid-stream: what a stopping server does
    assert 3 <= seen < 1000
    assert proc.proc.wait(10) == 0  # the one SIGTERM was enough
