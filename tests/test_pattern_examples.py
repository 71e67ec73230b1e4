"""examples/patterns/*.py as users run them, and the seed README's pattern snippets, verbatim.

Every test here starts a Python process that imports litellm (a few CPU-seconds each), so
all the processes of the module are launched at once by one module fixture and each test
waits for its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coagent.testing import MODEL_VARIABLES, FakeOpenAIServer, Reply, tool_call

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "patterns"
SEED_PATTERNS = Path(__file__).resolve().parent / "data" / "seed_patterns.md"
SEED_README = ROOT.parent / "shared" / "seed-README.md"  # beside the repo in the workplace, if at all
EXAMPLE_NAMES = ("chaining", "parallelization", "triaging", "handoffs", "group_chat")
TIMEOUT = 150

# The seed README's sections, the top pattern each defines, and the specs it must define.
SNIPPETS = {
    "chaining": ("### Workflow: Chaining", "chain",
                 ["extractor", "converter", "sorter", "formatter", "chain"]),
    "parallelization": ("### Workflow: Parallelization", "parallel",
                        ["customer", "employee", "investor", "supplier", "aggregator", "parallel"]),
    "triaging": ("### Workflow: Triaging & Routing", "triage", ["team.billing", "team.account", "triage"]),
}


# --------------------------------------------------------------- processes


def _env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
    return {**base, "PYTHONPATH": str(ROOT), **extra}


class Run:
    """A started process; ``result()`` waits for it (once) and returns it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=ROOT, env=env)
        self._done: tuple[int, str, str] | None = None

    def result(self) -> tuple[int, str, str]:
        if self._done is None:
            try:
                out, err = self.proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
                pytest.fail(f"timed out after {TIMEOUT}s:\n{out}\n{err}")
            self._done = (self.proc.returncode, out, err)
        return self._done

    def stdout(self) -> str:
        code, out, err = self.result()
        assert code == 0, f"exit {code}\n--- stdout\n{out}\n--- stderr\n{err}"
        assert "Traceback" not in err, err
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def provider_model(request: Any) -> Any:
    """The 'configured provider' the group chat example is pointed at."""
    system = request.system or ""
    if system.startswith("You are a copywriter"):
        return "Aurora: hear only the music."
    if system.startswith("You are a demanding marketing editor"):
        return "APPROVED"
    return "unexpected agent"


def seed_model(request: Any) -> Any:
    """The model the seed snippets run against: answers that show who answered what."""
    system = request.system or ""
    text = next((m.get("content") or "" for m in reversed(request.messages) if m.get("role") == "user"), "")
    if system.startswith("You are a triage agent"):
        for word, tool in (("invoice", "transfer_to_team_billing"), ("password", "transfer_to_team_account")):
            if word in text and tool in request.tool_names:
                return Reply(tool_calls=[tool_call(tool)])
        return "No team for that."
    start = re.search(r'Always start with "([^"]+)"', system)
    if start:
        return Reply(f"{start.group(1)} {text}", chunks=[start.group(1), f" {text}"])
    return f"{system.split()[0].rstrip(':')}({text})"


@pytest.fixture(scope="module")
def runs():
    """Every process of this module, started together."""
    started: dict[str, Run] = {}
    provider = FakeOpenAIServer(default=provider_model, api_key="sk-provider").start_in_thread()
    seed_server = FakeOpenAIServer(default=seed_model).start_in_thread()
    try:
        for name in EXAMPLE_NAMES:
            started[name] = Run([sys.executable, str(EXAMPLES / f"{name}.py")], _env({}))
        started["group_chat@provider"] = Run(
            [sys.executable, str(EXAMPLES / "group_chat.py")],
            _env(provider.env(model="openai/gpt-4o-mini")),
        )
        started["seed"] = Run(
            [sys.executable, "-c", SEED_HARNESS, json.dumps(seed_jobs())],
            _env(seed_server.env(model="openai/gpt-4o-mini")),
        )
        yield {"runs": started, "provider": provider, "seed_server": seed_server}
    finally:
        for run in started.values():
            run.stop()
        provider.close()
        seed_server.close()


# ----------------------------------------------------------------- examples


def test_chaining_extracts_converts_sorts_and_streams_a_table(runs) -> None:
    out = runs["runs"]["chaining"].stdout()
    assert out.splitlines() == [
        "| Metric | Value |",
        "|:--|--:|",
        "| Customer Satisfaction | 92% |",
        "| Employee Satisfaction | 87% |",
        "| Product Adoption Rate | 78% |",
        "| Revenue Growth | 45% |",
        "| User Acquisition Cost | 43.00 |",
        "| Operating Margin | 34% |",
        "| Market Share | 23% |",
        "| Customer Churn | 5% |",
    ]


def test_parallelization_aggregates_every_stakeholder_in_order(runs) -> None:
    out = runs["runs"]["parallelization"].stdout()
    sections = out.strip().split("\n\n")
    assert [s.splitlines()[0] for s in sections] == ["customer:", "employee:", "investor:", "supplier:"]
    for section, group in zip(sections, ("customers", "employees", "investors", "suppliers"), strict=False):
        lines = section.splitlines()
        assert lines[1] == f"Impact on {group}:"
        assert len([line for line in lines if line.startswith("- ")]) == 3
        assert lines[-1].startswith("Recommended action: ")
    assert "- Price sensitive (priority: high): a rival's 20% price cut" in sections[0]
    assert "- Tech transitions (priority: medium)" in sections[3]


def test_triaging_routes_each_ticket_and_streams_the_answer(runs) -> None:
    out = runs["runs"]["triaging"].stdout()
    tickets = re.split(r"^--- ticket \d: .*\n", out, flags=re.M)[1:]
    assert len(tickets) == 3, out
    billing, account, other = (t.strip() for t in tickets)
    assert billing.startswith("Billing Support Response:\nI'm sorry to see you were charged twice")
    assert "Next steps:" in billing and billing.splitlines()[-1].startswith("Payment options:")
    assert account.startswith("Account Support Response:\n")
    assert "Turn on two-factor authentication." in account and "Expected resolution" in account
    assert other == ("I can help with billing and account questions. "
                     "Could you tell me more about what you need help with?")


def test_handoffs_move_the_customer_between_agents_with_their_tools(runs) -> None:
    out = runs["runs"]["handoffs"].stdout()
    assert out.splitlines() == [
        "customer: Hi, my order #1234 arrived broken. I'd like my money back.",
        "  (tool) process_refund(order_id='1234', reason='arrived broken')",
        "refunds: All done: Refunded $59.99 for order 1234 (Aurora wireless headphones, arrived broken); "
        "expect it in 3-5 business days. Is there anything else I can do for you?",
        "customer: Thanks! Do you also sell carrying cases for these headphones?",
        "  (tool) check_stock(product='carrying case')",
        "sales: Good news! The carrying case is in stock (12 left) at $19.99. Shall I add one to your cart?",
    ]


def test_group_chat_takes_turns_until_approved(runs) -> None:
    out = runs["runs"]["group_chat"].stdout()
    lines = out.splitlines()
    turns = [line.split(": ", 1) for line in lines[1:] if line and not line.startswith("final")]
    assert [speaker for speaker, _ in turns] == ["writer", "editor", "writer", "editor"]
    assert turns[1][1].startswith("Too long (23 words)")
    assert turns[-1][1] == "APPROVED"
    assert lines[-1] == "final tagline: Aurora: forty hours of silence, wherever you go."


def test_an_example_uses_the_configured_provider(runs) -> None:
    out = runs["runs"]["group_chat@provider"].stdout()
    assert out.splitlines()[1:] == [
        "writer: Aurora: hear only the music.",
        "editor: APPROVED",
        "",
        "final tagline: Aurora: hear only the music.",
    ]
    requests = runs["provider"].requests
    assert len(requests) == 2 and {r.model for r in requests} == {"gpt-4o-mini"}
    assert requests[1].messages[-1] == {"role": "user", "content": "Aurora: hear only the music.",
                                        "name": "writer"}


# ------------------------------------------------------- seed README snippets


def seed_sections() -> str:
    return SEED_PATTERNS.read_text(encoding="utf-8")


def snippet(title: str) -> str:
    """The python code block under ``title`` in the seed README's Patterns section."""
    text = seed_sections()
    start = text.index(title + "\n")
    end = text.find("\n### ", start + len(title))
    section = text[start:] if end < 0 else text[start:end]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.M | re.S)
    assert len(blocks) == 1, f"expected one python block under {title!r}"
    return blocks[0]


def seed_jobs() -> list[dict[str, Any]]:
    return [{"name": name, "code": snippet(title), "top": top} for name, (title, top, _) in SNIPPETS.items()]


# Runs in the subprocess: exec each snippet, register what it defined, run its top pattern.
SEED_HARNESS = r'''
import asyncio, json, sys, traceback

# The first model call would import litellm lazily: seconds of CPU, tens of them on a loaded
# 2-core CI machine. Imported up front so that the requests' 60 s deadline times the requests.
import litellm  # noqa: F401

from coagent.agents import ChatMessage
from coagent.core import AgentSpec
from coagent.runtimes import LocalRuntime

REQUESTS = {
    "chain": [("stream", "Revenue grew by 45%."), ("ask", "Churn fell to 5%.")],
    "parallel": [("ask", "prices rise 10%")],
    "triage": [("stream", "my invoice is wrong"), ("stream", "I forgot my password"),
               ("ask", "my invoice is late")],
}


async def run(job):
    namespace = {"__name__": "seed_snippet"}
    exec(compile(job["code"], f"<seed README: {job['name']}>", "exec"), namespace)
    specs = [v for v in namespace.values() if isinstance(v, AgentSpec)]
    replies = []
    async with LocalRuntime() as runtime:
        for spec in specs:
            await runtime.register(spec)
        top = namespace[job["top"]]
        for i, (how, text) in enumerate(REQUESTS[job["top"]]):
            raw = ChatMessage(role="user", content=text).encode()
            if how == "stream":
                chunks = [ChatMessage.decode(c) async for c in top.run_stream(raw, session_id=f"s{i}", timeout=60)]
                replies.append({"how": how, "chunks": len(chunks), "text": "".join(c.content for c in chunks)})
            else:
                reply = ChatMessage.decode(await top.run(raw, session_id=f"s{i}", timeout=60))
                replies.append({"how": how, "text": reply.content})
    return {"specs": [s.name for s in specs], "client": repr(namespace.get("client")), "replies": replies}


async def main():
    results = {}
    for job in json.loads(sys.argv[1]):
        try:
            results[job["name"]] = await run(job)
        except BaseException as exc:
            results[job["name"]] = {
                "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print(json.dumps(results))


asyncio.run(main())
'''


def seed_results(runs) -> dict[str, Any]:
    return json.loads(runs["runs"]["seed"].stdout())


EXPECTED_REPLIES = {
    "chaining": [
        ("stream", "Format(Sort(Convert(Extract(Revenue grew by 45%.))))"),
        ("ask", "Format(Sort(Convert(Extract(Churn fell to 5%.))))"),
    ],
    "parallelization": [
        ("ask", "customer:\nCustomers(prices rise 10%)\n\nemployee:\nEmployees(prices rise 10%)\n\n"
                "investor:\nInvestors(prices rise 10%)\n\nsupplier:\nSuppliers(prices rise 10%)"),
    ],
    "triaging": [
        ("stream", "Billing Support Response: my invoice is wrong"),
        ("stream", "Account Support Response: I forgot my password"),
        ("ask", "Billing Support Response: my invoice is late"),
    ],
}


def check_seed_run(result: dict[str, Any], name: str) -> None:
    assert "error" not in result, result.get("traceback") or result
    assert result["specs"] == SNIPPETS[name][2]
    assert result["client"].startswith("ModelClient(model='openai/gpt-4o-mini', api_base='http://127.0.0.1:")
    assert [(r["how"], r["text"]) for r in result["replies"]] == EXPECTED_REPLIES[name]
    for reply in result["replies"]:
        if reply["how"] == "stream":
            assert reply["chunks"] >= 2, reply  # streamed through the pattern, not sent whole


def test_seed_sections_are_a_verbatim_copy_of_the_seed_readme() -> None:
    text = seed_sections()
    if SEED_README.exists():
        assert text in SEED_README.read_text(encoding="utf-8")
    for title, _, specs in SNIPPETS.values():
        code = snippet(title)
        assert "client = ModelClient(...)" in code
        for spec in specs:
            assert f'"{spec}"' in code


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_seed_snippet_runs_verbatim(runs, name: str) -> None:
    check_seed_run(seed_results(runs)[name], name)


def test_seed_snippets_reach_the_model_as_configured(runs) -> None:
    seed_results(runs)  # wait for the harness
    requests = runs["seed_server"].requests
    assert requests and {r.model for r in requests} == {"gpt-4o-mini"}
    assert {r.headers.get("authorization") for r in requests} == {"Bearer sk-fake"}
    triage = [r for r in requests if (r.system or "").startswith("You are a triage agent")]
    assert triage and all(sorted(r.tool_names) == ["transfer_to_team_account", "transfer_to_team_billing"]
                          for r in triage)
    chain = [(r.system.split()[0], r.last_message["content"]) for r in requests if "Revenue grew" in str(r.messages)]
    assert chain == [  # each step's input is the previous step's output
        ("Extract", "Revenue grew by 45%."),
        ("Convert", "Extract(Revenue grew by 45%.)"),
        ("Sort", "Convert(Extract(Revenue grew by 45%.))"),
        ("Format", "Sort(Convert(Extract(Revenue grew by 45%.)))"),
    ]
