"""examples/observability/tracing.py runs offline, and exports over OTLP/HTTP when told to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.observability.otlp_receiver import OTLPReceiver

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "observability" / "tracing.py"


def run(**env: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_tracing_example_prints_one_trace_of_the_pattern_its_steps_model_and_tool_calls() -> None:
    out = run()
    lines = [line.split("  (")[0] for line in out.splitlines()]
    assert lines[0] == "reply: Il fait beau à Paris."
    assert lines[1].startswith("trace ")
    assert lines[2:] == [
        "  handle chain",
        "    step chain/weather",
        "      invoke_agent weather",
        "        chat openai/gpt-4o-mini",
        "        execute_tool get_weather",
        "        chat openai/gpt-4o-mini",
        "    step chain/translator",
        "      invoke_agent translator",
        "        chat openai/gpt-4o-mini",
    ]
    assert "tokens in/out" in out


def test_the_tracing_example_exports_to_an_otlp_http_receiver() -> None:
    with OTLPReceiver() as receiver:
        run(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
        spans = receiver.wait_for(lambda got: len(got) >= 9)
    assert {s.service for s in spans} == {"tracing-example"}
    assert len({s.trace_id for s in spans}) == 1
    assert sorted(s.name for s in spans if s.name.startswith("execute_tool")) == ["execute_tool get_weather"]
