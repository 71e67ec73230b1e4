"""examples/original/* run as their users run them: real processes, a real nats-server.

Each distributed example starts its server processes and waits for them to say
"serving", then runs its client processes; nothing here waits without a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coagent.testing import MODEL_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "original"
TIMEOUT = 90.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


class Server:
    """A long-running example process, stopped by its own PID with SIGINT (as Ctrl-C would)."""

    def __init__(self, script: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env())

    def wait_serving(self) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        line = self.proc.stdout.readline()  # bounded: the process prints it or exits
        assert line.strip() == "serving", f"{line!r}\n{self.stop()}"
        assert time.monotonic() < deadline

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[Server], script: Path, *args: str) -> Server:
    server = Server(script, *args)
    servers.append(server)
    return server


def run(script: Path | str, *args: str, timeout: float = TIMEOUT) -> str:
    cmd = [sys.executable, str(script), *args] if isinstance(script, Path) else [sys.executable, "-m", script, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_ping_pong_server_answers_the_channel_client_and_the_cli(nats_server, servers) -> None:
    server = start(servers, EXAMPLES / "ping_pong" / "server.py", "--server", nats_server.url)
    server.wait_serving()
    out = run(EXAMPLES / "ping_pong" / "client.py", "--server", nats_server.url, "--count", "3")
    assert out.splitlines() == ["ping 0: Pong", "ping 1: Pong", "ping 2: Pong"]
    # ``coagent server -H type:Ping`` with no -d: the empty body is a Ping.
    cli = run("coagent", "server", "-H", "type:Ping", "--server", nats_server.url)
    assert '"type": "Pong"' in cli
    assert server.stop().count("Traceback") == 0


def test_stream_ping_pong_streams_every_word_in_order(nats_server, servers) -> None:
    start(servers, EXAMPLES / "stream_ping_pong" / "server.py", "--server", nats_server.url).wait_serving()
    out = run(EXAMPLES / "stream_ping_pong" / "client.py", "--server", nats_server.url)
    assert out.strip() == "three... two... one... pong!"


def test_discovery_lists_four_agents_of_two_namespaces_served_by_four_processes(nats_server, servers) -> None:
    employees = [("team.alice", "Alice, engineering"), ("team.bob", "Bob, sales"),
                 ("ops.carol", "Carol, operations"), ("ops.carol.pager", "Carol's pager")]
    procs = [start(servers, EXAMPLES / "discovery" / "server.py", name, text, "--server", nats_server.url)
             for name, text in employees]
    for proc in procs:
        proc.wait_serving()
    client = EXAMPLES / "discovery" / "client.py"
    url = ("--server", nats_server.url)
    assert run(client, *url, "--namespace", "team").splitlines() == [
        "team.alice: Alice, engineering", "team.bob: Bob, sales"]
    assert run(client, *url, "--namespace", "ops").splitlines() == ["ops.carol: Carol, operations"]
    assert run(client, *url, "--namespace", "ops", "--recursive").splitlines() == [
        "ops.carol: Carol, operations", "ops.carol.pager: Carol's pager"]
    assert run(client, *url, "--namespace", "ops.carol", "--inclusive").splitlines() == [
        "ops.carol: Carol, operations", "ops.carol.pager: Carol's pager"]
    assert run(client, *url).splitlines() == []  # no top-level agents, as the original says
    detailed = run(client, *url, "--namespace", "team", "--schema", "--echo", "team.bob").splitlines()
    # Operations are listed for agent classes loaded on the answering node (here: the client,
    # which has none of them); tests/compat/test_runtime_compat.py covers the filled case.
    assert detailed[0] == "team.alice: Alice, engineering []"
    assert detailed[-1] == 'echo from team.bob: Greeting {"text": "hello"}'


def test_notification_reaches_a_long_lived_relay_through_the_control_lane(nats_server, servers) -> None:
    server = start(servers, EXAMPLES / "notification" / "notification.py", "--server", nats_server.url)
    server.wait_serving()
    subscriber = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "notification" / "subscriber.py"), "alice", "--count", "3",
         "--server", nats_server.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(),
    )
    try:
        assert subscriber.stdout is not None
        assert subscriber.stdout.readline().strip() == "subscribing"
        time.sleep(2.0)  # the relay starts and registers with the hub
        run(EXAMPLES / "notification" / "notifier.py", "alice", "--count", "12", "--interval", "0.25",
            "--server", nats_server.url)
        out, err = subscriber.communicate(timeout=TIMEOUT)
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.communicate()
    assert subscriber.returncode == 0, err
    received = [line for line in out.splitlines() if line.startswith("news: item ")]
    assert len(received) == 3
    numbers = [int(line.rsplit(" ", 1)[1]) for line in received]
    assert numbers == sorted(numbers) and numbers[2] - numbers[0] == 2  # consecutive, none lost
    log = server.stop()
    assert "alice is watching" in log
    assert "alice stopped watching" in log  # leaving the stream cancelled the relay's handler
    assert "alice is not watching; alert dropped" in log


def test_triage_subclass_takes_system_and_namespace_from_its_class_attributes() -> None:
    out = run(EXAMPLES / "triage" / "triage.py", "--namespace", "team")
    assert out.splitlines() == [
        "User> Which models are popular?",
        "Assistant> Models answer: llama-3 and qwen-2 are popular models.",
        "User> And which dataset should I train on?",
        "Assistant> Datasets answer: wikitext is a popular dataset.",
    ]


def test_confirm_tool_asks_the_user_then_runs_on_yes() -> None:
    out = run(EXAMPLES / "confirm" / "confirm.py")
    assert out.splitlines() == [
        "User> Find models named llama",
        "Assistant [confirm]> Search the hub for 'llama'? Reply yes to go ahead.",
        "User> yes",
        "Assistant> Here is what I found: llama-3-8b, llama-3-70b",
    ]
