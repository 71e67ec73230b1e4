"""Logs carry trace ids; JSON logs; set-up from OTEL_* and without the extra; names checked
against the semantic-conventions package."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new
from coagent.logging import set_stderr_logger
from coagent.runtimes import LocalRuntime
from coagent.testing import NATSServer
from tests.cluster import wait_for_nodes
from tests.observability.conftest import Spans

ROOT = Path(__file__).resolve().parents[2]


class Say(Message):
    text: str = ""


class Talker(Actor):
    @handler
    async def say(self, msg: Say, ctx: Context) -> None:
        logging.getLogger("coagent.test.talker").warning("said %s", msg.text)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_a_line_logged_inside_a_handler_carries_the_spans_trace_and_span_ids(
    spans: Spans, capfd: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    set_stderr_logger("INFO", fmt="json")
    try:
        async with LocalRuntime() as runtime:
            await runtime.register(AgentSpec("talker", new(Talker)))
            await runtime.ask(Address("talker", "s"), Say(text="hello"))
        logging.getLogger("coagent.test.talker").warning("outside any span")
    finally:
        root.handlers, root.level = handlers, level
    lines = json_lines(capfd.readouterr().err)
    inside = next(line for line in lines if line["event"] == "said hello")
    span = spans.one("handle talker")
    assert inside["trace_id"] == format(span.context.trace_id, "032x")
    assert inside["span_id"] == format(span.context.span_id, "016x")
    assert inside["level"] == "warning" and inside["logger"] == "coagent.test.talker"
    assert str(inside["timestamp"]).endswith("Z")
    outside = next(line for line in lines if line["event"] == "outside any span")
    assert "trace_id" not in outside


def test_an_unknown_log_format_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="console, json"):
        set_stderr_logger("INFO", fmt="xml")


async def test_coagent_node_logs_json_with_the_trace_id_of_a_call_from_another_process(
    nats_server: NATSServer, spans: Spans,
) -> None:
    from coagent.runtimes import NATSRuntime
    from tests.observability.log_agents import LogSay

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_TRACES_EXPORTER": "console"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coagent", "node", "tests/observability/log_agents.py", "--server",
         nats_server.url, "--name", "logger", "--prefix", "otell", "--log-format", "json"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        async with NATSRuntime.from_servers(nats_server.url, prefix="otell", announce=False) as client:
            await wait_for_nodes(client, {"logger"})
            from coagent.observability import hooks

            assert hooks.tracer is not None
            with hooks.tracer.start_as_current_span("client call") as root:
                await client.ask(Address("talker", "s"), LogSay(text="hello"), timeout=20)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    lines = json_lines(err)
    said = next(line for line in lines if line["event"] == "said hello")
    # The client's trace (its span is the parent over NATS) reaches the node's log line.
    assert said["trace_id"] == format(root.get_span_context().trace_id, "032x")
    assert len(str(said["span_id"])) == 16 and said["span_id"] != format(root.get_span_context().span_id, "016x")
    assert said["level"] == "warning" and str(said["timestamp"]).endswith("Z")


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env})


def test_without_the_extra_enabling_tracing_is_a_typed_error_naming_the_extra() -> None:
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Block())
from coagent.observability import ObservabilityUnavailable, enable_tracing, state
try:
    enable_tracing()
except ObservabilityUnavailable as exc:
    print(exc.code, "|", exc, "|", state.active)
"""
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    code_, message, active = out.stdout.strip().split(" | ")
    assert code_ == "observability_unavailable" and "pip install 'coagent[otel]'" in message
    assert active == "False"


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
], ids=["nothing set", "an endpoint", "console exporter", "exporter none", "sdk disabled"])
def test_configure_from_env_follows_the_standard_otel_variables(env: dict[str, str], on: bool) -> None:
    out = run_python("from coagent.observability import configure_from_env, state\n"
                     "print(configure_from_env('t'), state.tracing)", **env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(on), str(on)]


def test_the_genai_names_match_the_semantic_conventions_package() -> None:
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as semconv

    from coagent.observability import conventions as ours

    names = [n for n in dir(ours) if n.startswith("GEN_AI_")]
    assert len(names) >= 20
    for name in names:
        assert getattr(semconv, name) == getattr(ours, name), name
    operations = semconv.GenAiOperationNameValues
    assert operations.CHAT.value == ours.CHAT
    assert operations.INVOKE_AGENT.value == ours.INVOKE_AGENT
    assert operations.EXECUTE_TOOL.value == ours.EXECUTE_TOOL
