"""The test kit's pytest plugin works in a user's project with no configuration.

Each test writes a throwaway project in a temporary directory outside this repository
(its own empty ``pytest.ini``: no ``asyncio_mode``, no conftest) and runs pytest on it
in a subprocess, as a user of the installed package would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT_TESTS = '''
import asyncio
import json
import urllib.request

import pytest

from coagent import Address
from coagent.agents import ChatAgent, ChatMessage
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime


async def test_an_async_test_with_the_scripted_model_runs(scripted_model):
    scripted_model.add("Hello!")
    spec = AgentSpec("greeter", new(ChatAgent, client=scripted_model))
    async with LocalRuntime() as runtime:
        await runtime.register(spec)
        reply = await runtime.ask(Address("greeter", "s"), ChatMessage(role="user", content="hi"))
    assert reply.content == "Hello!"
    scripted_model.assert_all_used()


def test_a_sync_test_gets_a_running_fake_server(fake_openai_server):
    with urllib.request.urlopen(fake_openai_server.base_url + "/models", timeout=5) as response:
        assert json.load(response)["data"][0]["id"] == fake_openai_server.model


@pytest.mark.coagent
async def test_a_marked_async_test_without_kit_fixtures_runs():
    await asyncio.sleep(0)
    assert asyncio.get_running_loop().is_running()


async def test_a_failing_async_test_fails(scripted_model):
    await asyncio.sleep(0)
    assert 1 == 2, "the body ran"


@pytest.mark.coagent(timeout=0.2)
async def test_a_hanging_async_test_meets_its_deadline():
    await asyncio.sleep(30)
'''

ASYNCIO_MARKED = '''
import asyncio

import pytest

RUNS = []


@pytest.mark.asyncio
async def test_a_pytest_asyncio_test_is_left_to_pytest_asyncio(scripted_model):
    RUNS.append(asyncio.get_running_loop())
    assert len(RUNS) == 1
'''


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", COLUMNS="300")  # untruncated summary lines
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )


def make_project(tmp_path: Path, **files: str) -> Path:
    project = tmp_path / "user_project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")  # the project's own, empty config
    for name, text in files.items():
        (project / f"{name}.py").write_text(text)
    return project


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    last = proc.stdout.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error|errors|skipped)", last)}


def check_outcomes(proc: subprocess.CompletedProcess[str]) -> None:
    assert summary(proc) == {"passed": 3, "failed": 2}, proc.stdout + proc.stderr
    assert "not natively supported" not in proc.stdout
    assert "FAILED test_kit.py::test_a_failing_async_test_fails - AssertionError: the body ran" in proc.stdout
    assert ("test_a_hanging_async_test_meets_its_deadline did not finish within 0.2 s") in proc.stdout


def test_async_tests_run_with_pytest_asyncio_installed_in_strict_mode(tmp_path: Path) -> None:
    project = make_project(tmp_path, test_kit=PROJECT_TESTS, test_marked=ASYNCIO_MARKED)
    assert not str(project).startswith(str(Path(__file__).resolve().parent.parent))
    proc = run_pytest(project, "test_kit.py")
    check_outcomes(proc)
    proc = run_pytest(project, "test_marked.py")
    assert summary(proc) == {"passed": 1}, proc.stdout + proc.stderr


def test_async_tests_run_without_any_async_plugin(tmp_path: Path) -> None:
    project = make_project(tmp_path, test_kit=PROJECT_TESTS)
    proc = run_pytest(project, "-p", "no:asyncio", "-p", "no:anyio", "test_kit.py")
    check_outcomes(proc)
