"""HTTP-served agents in processes of their own: the CLI, a killed server, a restarted gateway."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx

from coagent.testing.ports import free_port
from tests.gateway.test_command import AGENTS, ROOT, Proc, procs, start_gateway

__all__ = ["procs"]

CALL = "/v1/agents/echo/sessions/{session}/call"


def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.1)


def start_node(procs: list[Proc], url: str, *args: str) -> Proc:
    node = Proc("node", AGENTS, "--server", url, *args)
    procs.append(node)
    node.wait_for(r"serving \[echo\]")
    return node


def ping(url: str, session: str, n: int = 1, **options: object) -> httpx.Response:
    return httpx.post(f"{url}{CALL.format(session=session)}", json={"type": "GPing", "content": {"n": n}},
                      timeout=30, **options)  # type: ignore[arg-type]


def coagent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "coagent", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_the_cli_serves_and_calls_through_a_gateway_with_http_urls(procs: list[Proc]) -> None:
    _, url = start_gateway(procs, "--auth", "tok")
    start_node(procs, url, "--auth", "tok", "--name", "worker-1")
    assert ping(url, "s1", 3, headers={"Authorization": "Bearer tok"}).json()["content"] == {"n": 3}
    # The seed's form: `coagent ADDRESS -H type:NAME --server http://...`, with --auth.
    sent = coagent("echo:s1", "-H", "type:GPing", "-d", '{"n": 9}', "--server", url, "--auth", "tok")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["content"] == {"n": 9}
    streamed = coagent("echo:s2", "-H", "type:GCount", "-d", '{"n": 3}', "--stream", "-F", ".content.i",
                       "--server", url, "--auth", "tok")
    assert streamed.stdout.split() == ["0", "1", "2"], streamed.stderr
    listed = coagent("agents", "--server", url, "--auth", "tok", "--json")
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert "echo" in rows, listed.stderr
    tree = coagent("tree", "--server", url, "--auth", "tok", "--json")
    trees = json.loads(tree.stdout)
    relays = [s["session"] for t in trees for a in t["agents"] if a["name"] == "echo" for s in a["sessions"]]
    assert {"s1", "s2"} <= set(relays), tree.stdout
    refused = coagent("agents", "--server", url, "--auth", "wrong")
    assert refused.returncode == 1 and "Error" in refused.stderr


def test_killing_the_serving_process_fails_its_calls_at_once_and_a_new_one_serves_again(
        procs: list[Proc]) -> None:
    _, url = start_gateway(procs)
    node = start_node(procs, url)
    assert ping(url, "s1").status_code == 200
    result: dict[str, object] = {}

    def slow_call() -> None:
        started = time.monotonic()
        r = httpx.post(f"{url}{CALL.format(session='s1')}", headers={"Coagent-Timeout": "60"},
                       json={"type": "GSleep", "content": {"seconds": 60}}, timeout=90)
        result.update(status=r.status_code, body=r.json(), took=time.monotonic() - started)

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(1.0)
    killed = time.monotonic()
    node.stop(signal.SIGKILL)
    caller.join(30)
    assert result["status"] == 502 and result["body"]["code"] == "agent_disconnected"  # type: ignore[index]
    assert time.monotonic() - killed < 10  # not at the call's 60 s deadline
    start_node(procs, url)
    assert ping(url, "s1", 4).json()["content"] == {"n": 4}


def test_an_http_runtime_node_serves_again_after_the_gateway_restarts(procs: list[Proc]) -> None:
    port = free_port()
    gateway = Proc("gateway", "--listen", f"127.0.0.1:{port}")
    procs.append(gateway)
    url = gateway.wait_for(r"listening on (https?://\S+)").group(1)
    node = start_node(procs, url)
    assert ping(url, "s1", 1).status_code == 200
    assert gateway.stop() == 0
    again = Proc("gateway", "--listen", f"127.0.0.1:{port}")
    procs.append(again)
    again.wait_for(r"listening on")

    def answers() -> bool:
        try:
            return ping(url, "s1", 2).status_code == 200
        except httpx.HTTPError:
            return False

    until(answers, timeout=30)
    assert node.proc.poll() is None  # the same process, never restarted
