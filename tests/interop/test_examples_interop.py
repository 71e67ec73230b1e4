"""The interop examples run offline, as a user would run them."""

from __future__ import annotations

from tests.test_examples import EXAMPLES, run_example


def test_the_mcp_tools_example_calls_the_weather_server() -> None:
    out = run_example(EXAMPLES / "interop" / "mcp_tools.py", timeout=120)
    assert "tools: forecast, to_fahrenheit" in out
    assert "Oslo tomorrow: 4.5 °C (40.1 °F). Pack a coat and a scarf." in out


def test_the_a2a_example_calls_the_gateway_through_a2a_agent() -> None:
    out = run_example(EXAMPLES / "interop" / "a2a_agents.py", timeout=120)
    assert "card: glossary - Expands abbreviations. | auth: bearer" in out
    assert "'Does  MCP use SSE?' -> does mcp (Model Context Protocol) use sse (server-sent events)?" in out
    assert "'What is A2A' -> what is a2a (Agent2Agent protocol)" in out
