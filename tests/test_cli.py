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

from coagent.testing import MODEL_VARIABLES, free_port

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


def test_demo_streams_an_llm_agent_and_a_pattern_offline_and_says_where_to_go_next() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_")}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "coagent", "demo"], capture_output=True, text=True,
                          timeout=60, env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, cwd=ROOT)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    _, llm = out.split("an LLM agent (scripted model, offline)")
    assert "team.weather: Today it is sunny, 21 °C there.\n(one tool call, get_weather; 2 model calls" in llm
    poem = "triage: Each actor reads its mail alone;\nwhen one falls down, a fresh one's grown.\n"
    assert poem + "(the triage model chose team.poet;" in llm
    assert "triage: Today it is snowing, -3 °C there.\n(the triage model chose team.weather;" in llm
    _, after = llm.split("where to go next")
    assert "nats-server -js &" in after
    assert "coagent node examples/translator/translator.py --server nats://localhost:" in after
    assert "examples/patterns/triaging.py" in after
    assert "litellm" not in proc.stderr and "Traceback" not in proc.stderr
    assert elapsed < 30, f"the demo took {elapsed:.1f} s"


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


# ---------------------------------------------------------------- usage errors



@pytest.mark.parametrize("args", [
    ("echo",),                                        # no -H type:NAME
    ("echo", "-H", "type"),                           # a header without a colon
    ("echo", "-H", "type:Ping", "-F", "..x"),         # a filter the CLI does not understand
    ("echo:bad session", "-H", "type:Ping"),          # an invalid address
    ("echo", "-H", "type:Ping", "--no-such-option"),
    ("tree", "--sessions", "-1"),
], ids=["no-type", "bad-header", "bad-filter", "bad-address", "unknown-option", "bad-count"])
def test_usage_errors_are_one_line_on_stderr(args: tuple[str, ...]) -> None:
    proc = coagent(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "Try " not in proc.stderr and "send" not in proc.stderr


@pytest.mark.parametrize("args", [
    ("echo:s1", "-H", "type:Ping", "--server", "http://127.0.0.1:{port}"),
    ("tree", "--server", "http://127.0.0.1:{port}"),
    ("agents", "-s", "http://127.0.0.1:{port}", "--auth", "t"),
    ("node", "tests/cluster_agents.py", "--server", "http://127.0.0.1:{port}"),
], ids=["send", "tree", "agents", "node"])
def test_an_http_url_with_no_gateway_behind_it_fails_in_one_line(args: tuple[str, ...]) -> None:
    port = free_port()
    started = time.monotonic()
    proc = coagent(*(a.format(port=port) for a in args))
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "gateway" in lines[0] and f"127.0.0.1:{port}" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 30


def test_an_unknown_url_scheme_is_refused_with_the_supported_ones() -> None:
    proc = coagent("tree", "--server", f"redis://localhost:{free_port()}")
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "unsupported scheme" in line
    assert all(scheme in line for scheme in ("nats://", "tls://", "ws://", "wss://", "http://", "https://"))


def test_the_session_id_of_a_call_without_one_is_short_and_recognisable() -> None:
    from coagent.cli.main import new_cli_session

    ids = {new_cli_session() for _ in range(1000)}
    # 24 random bits: a collision among 1,000 draws has a 3% chance, ten of them none worth naming.
    assert len(ids) >= 990
    assert all(re.fullmatch(r"cli-[0-9a-f]{6}", i) for i in ids)


# ------------------------------------------------- a served translator, over NATS


def node_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def call(server: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coagent", *args, "--server", server], capture_output=True, text=True,
        timeout=timeout, env=node_env(), cwd=ROOT,
    )


@pytest.fixture(scope="module")
def translator_node(nats_server):
    """``coagent node examples/translator/translator.py`` (offline: no MODEL_* set), as the README says."""
    node = subprocess.Popen(
        [sys.executable, "-m", "coagent", "node", "examples/translator/translator.py",
         "--server", nats_server.url, "--name", "translator-node"],
        env=node_env(), cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert node.stderr is not None
        line = node.stderr.readline()
        assert "serving [translator]" in line, line + node.stderr.read()
        yield nats_server.url
    finally:
        node.send_signal(signal.SIGTERM)
        assert node.wait(20) == 0


CHATS = [
    ("ChatMessage", {"role": "user", "content": "你好，世界"}, "Hello, world!"),
    ("ChatHistory", {"messages": [{"role": "user", "content": "你好"}]}, "Hello"),
    ("ChatMessage", {"role": "user", "content": "谢谢你的帮助。"}, "Thank you for your help."),
    ("ChatHistory", {"messages": [
        {"role": "user", "content": "你好"}, {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "我爱我的猫！"},
    ]}, "I love my cat!"),
    ("ChatMessage", {"role": "user", "content": "今天天气很好。"}, "Today the weather is very good."),
]


def test_the_offline_translator_keeps_answering_chat_calls(translator_node: str) -> None:
    for kind, data, answer in CHATS:
        proc = call(translator_node, "translator", "-H", f"type:{kind}", "--chat", "-d", json.dumps(data))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == answer + "\n", (kind, data)


def test_a_chat_history_stream_prints_one_json_line_per_reply(translator_node: str) -> None:
    data = {"messages": [{"role": "user", "content": "早上好，朋友"}]}
    proc = call(translator_node, "translator:history-1", "-H", "type:ChatHistory", "--stream", "-d", json.dumps(data))
    assert proc.returncode == 0, proc.stderr
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(r["header"]["type"] == "ChatMessage" for r in replies)
    text = "".join(r["content"].get("content", "") for r in replies)
    assert text == "Good morning, friend"
    assert replies[-1]["content"]["usage"]["requests"] == 1


def test_a_filter_that_matches_nothing_says_so_and_fails(translator_node: str) -> None:
    data = json.dumps({"role": "user", "content": "你好"})
    proc = call(translator_node, "translator", "-H", "type:ChatMessage", "--stream", "-F", ".content.text", "-d", data)
    assert proc.returncode == 1
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("Error: -F .content.text matched nothing in any of the")
    assert "type ChatMessage, content: content, role" in line
    proc = call(translator_node, "translator", "-H", "type:ChatMessage", "-F", ".content.content", "-d", data)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr  # a path that matches prints


def test_the_tree_shows_short_cli_sessions_and_folds_beyond_a_count(translator_node: str) -> None:
    for _ in range(3):
        proc = call(translator_node, "translator", "-H", "type:ChatMessage", "--chat",
                    "-d", json.dumps({"role": "user", "content": "再见"}))
        assert proc.stdout == "Goodbye\n", proc.stderr
    proc = call(translator_node, "tree", "--json")
    assert proc.returncode == 0, proc.stderr
    [node] = [t for t in json.loads(proc.stdout) if t["node"] == "translator-node"]
    [agent] = node["agents"]
    sessions = [s["session"] for s in agent["sessions"]]
    cli_sessions = [s for s in sessions if s.startswith("cli-")]
    assert len(cli_sessions) >= 3 and all(re.fullmatch(r"cli-[0-9a-f]{6}", s) for s in cli_sessions)
    proc = call(translator_node, "tree", "--sessions", "2")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout  # plain text when piped
    shown = re.findall(r"translator:(\S+)", proc.stdout)
    assert len(shown) == 2
    folded = len(sessions) - 2
    assert re.search(rf"\.\.\. {folded} more sessions \(\d+ from CLI calls\)", proc.stdout), proc.stdout


async def test_a_message_without_data_is_sent_with_an_empty_body(nats_server) -> None:
    import asyncio

    import nats

    nc = await nats.connect(nats_server.url)
    received: list[tuple[bytes, dict[str, str]]] = []

    async def answer(msg) -> None:
        received.append((msg.data, dict(msg.headers or {})))
        await nc.publish(msg.reply, b'{"n": 0}', headers={"type": "Pong"})

    await nc.subscribe("coagent.a.pinger", cb=answer)
    await nc.flush()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "coagent", "pinger", "-H", "type:Ping", "--server", nats_server.url,
            env=node_env(), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await nc.close()
    assert proc.returncode == 0, err.decode()
    [(body, headers)] = received
    assert body == b"" and headers["type"] == "Ping"
    assert re.fullmatch(r"cli-[0-9a-f]{6}", headers["session"])
    assert json.loads(out) == {"header": {"type": "Pong"}, "content": {"n": 0}}


async def test_the_demo_llm_agents_stream_their_answers_chunk_by_chunk() -> None:
    from coagent import Address
    from coagent.agents import ChatMessage
    from coagent.cli.demo import llm_specs
    from coagent.runtimes import LocalRuntime

    async with LocalRuntime() as runtime:
        for spec in llm_specs():
            await runtime.register(spec)
        for address, text in ((Address("team.weather", "s"), "Weather in Oslo?"),
                              (Address("triage", "s"), "A poem, please")):
            chunks = [c.content async for c in runtime.stream(address, ChatMessage(role="user", content=text))
                      if c.content]
            assert len(chunks) > 3, chunks


def test_the_help_of_the_send_form_names_no_send_command() -> None:
    proc = coagent("echo", "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("Usage: coagent ADDRESS -H type:NAME")
    assert "send" not in proc.stdout.split("\n", 1)[0]
