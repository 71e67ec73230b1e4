"""The Node.js and Go clients' own test suites, run as real processes against a real gateway.

Each suite runs once against a `coagent gateway --auth` process (its tests share it, each with
its own names and sessions); every test of a suite is reported here as a test of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.clients.conftest import GO_CLIENT, ROOT, TOKEN, Gateway, Proc

NODE_SUITE = ROOT / "tests" / "clients" / "node" / "client.test.mjs"
NODE_TESTS = re.findall(r"^test\('([^']+)'", NODE_SUITE.read_text(), re.M)
GO_TESTS = [name for f in ("gateway_test.go", "sse_test.go")
            for name in re.findall(r"^func (Test\w+)\(t \*testing\.T\)", (GO_CLIENT / f).read_text(), re.M)]


def _env(gw: Gateway) -> dict[str, str]:
    return {**os.environ, "COAGENT_URL": gw.url, "COAGENT_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def suite_gateway() -> Iterator[Gateway]:
    procs: list[Proc] = []
    gw = Gateway(procs, "--auth", TOKEN)
    yield gw
    for proc in procs:
        proc.stop()


@pytest.fixture(scope="module")
def node_results(suite_gateway: Gateway, node: str) -> dict[str, str]:
    """Each Node test's TAP line ("ok"/"not ok") and the whole output for the failures."""
    out = subprocess.run([node, "--test", "--test-reporter=tap", str(NODE_SUITE)], env=_env(suite_gateway),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    results = {m.group(2): m.group(1) for m in re.finditer(r"^(ok|not ok) \d+ - (.+?)\s*$", out.stdout, re.M)}
    results["\0output"] = out.stdout + out.stderr
    return results


@pytest.fixture(scope="module")
def go_results(suite_gateway: Gateway, go_bins: dict[str, str]) -> dict[str, str]:
    out = subprocess.run([go_bins["client.test"], "-test.v", "-test.timeout", "240s"], env=_env(suite_gateway),
                         cwd=GO_CLIENT, capture_output=True, text=True, timeout=300)
    results = {m.group(2): m.group(1) for m in re.finditer(r"^--- (PASS|FAIL): (\w+)", out.stdout, re.M)}
    results["\0output"] = out.stdout + out.stderr
    return results


def test_the_suites_list_their_tests() -> None:
    assert len(NODE_TESTS) >= 15 and len(GO_TESTS) >= 12


@pytest.mark.parametrize("name", NODE_TESTS)
def test_the_node_client(node_results: dict[str, str], name: str) -> None:
    assert node_results.get(name) == "ok", node_results["\0output"][-6000:]


@pytest.mark.parametrize("name", GO_TESTS)
def test_the_go_client(go_results: dict[str, str], name: str) -> None:
    assert go_results.get(name) == "PASS", go_results["\0output"][-6000:]


