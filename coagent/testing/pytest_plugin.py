"""pytest fixtures of the Coagent test kit, and a runner for async tests that use them.

Installing Coagent registers this plugin (a ``pytest11`` entry point); nothing to configure::

    from coagent.testing import Reply

    async def test_greets(scripted_model):            # no asyncio_mode, no marker needed
        scripted_model.add("Hello!")
        ...

    def test_end_to_end(fake_openai_server):
        fake_openai_server.add(Reply("Bonjour", chunks=["Bon", "jour"]))
        client = fake_openai_server.client()          # a ModelClient pointed at it
        ...

    @pytest.mark.coagent(timeout=10)                   # an async test without a kit fixture
    async def test_cluster(nats_server):
        runtime = NATSRuntime.from_servers(nats_server.url)

(Where entry-point plugins are disabled, enable it in your top-level ``conftest.py``
with ``pytest_plugins = ["coagent.testing.pytest_plugin"]``.)

All fixtures are function-scoped and work in sync and async tests:
``fake_openai_server`` serves from a background thread on a fresh free port, so
it can also back subprocesses (``env={**os.environ, **server.env()}``).

Async tests: an ``async def`` test that uses one of these fixtures, or is marked
``@pytest.mark.coagent``, runs on a fresh asyncio event loop with a deadline
(default 120 s, ``@pytest.mark.coagent(timeout=...)``), unless another plugin runs it
(pytest-asyncio in auto mode or with ``@pytest.mark.asyncio``, anyio with
``@pytest.mark.anyio``): this runner only takes the async tests nobody else does.
Your own *async* fixtures still need such a plugin; sync fixtures work as usual.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from coagent.testing.fake_openai import FakeOpenAIServer
from coagent.testing.nats_server import NATSServer
from coagent.testing.scripted_model import ScriptedModel

__all__ = ["scripted_model", "fake_openai_server", "nats_server"]

FIXTURES = frozenset({"scripted_model", "fake_openai_server", "nats_server"})
DEFAULT_TIMEOUT = 120.0
# Markers of the plugins that run async tests themselves; a test carrying one is theirs.
_OTHER_RUNNERS = ("asyncio", "anyio", "trio")


@pytest.fixture
def scripted_model() -> ScriptedModel:
    """An empty :class:`ScriptedModel`; add steps with ``scripted_model.add(...)``."""
    return ScriptedModel()


@pytest.fixture
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    """A running :class:`FakeOpenAIServer` (empty script), stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def nats_server() -> Iterator[NATSServer]:
    """A real ``nats-server`` (JetStream on) on a free port, stopped by PID after the test."""
    with NATSServer() as server:
        yield server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "coagent(timeout=120): run this async test on a fresh asyncio loop with a deadline "
        "(implied for async tests using scripted_model, fake_openai_server or nats_server)",
    )


def _ours(item: pytest.Function) -> bool:
    if any(item.get_closest_marker(name) is not None for name in _OTHER_RUNNERS):
        return False
    return item.get_closest_marker("coagent") is not None or bool(FIXTURES & set(item.fixturenames))


@pytest.hookimpl
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an async test no other plugin took.

    Not ``trylast``: pytest's own (``trylast``) implementation would fail the test first.
    The plugins that run async tests either hand this hook a synchronous wrapper
    (pytest-asyncio) or are called before it (anyio, ``tryfirst``), or mark the test.
    """
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function) or not _ours(pyfuncitem):
        return None
    marker = pyfuncitem.get_closest_marker("coagent")
    timeout = float(marker.kwargs.get("timeout", DEFAULT_TIMEOUT)) if marker else DEFAULT_TIMEOUT
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(_within(function(**arguments), timeout, pyfuncitem.nodeid))
    return True


async def _within(coro: Any, timeout: float, nodeid: str) -> None:
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            await coro
    except TimeoutError:
        if deadline.expired():  # ours, not a TimeoutError the test itself raised
            pytest.fail(f"{nodeid} did not finish within {timeout:g} s "
                        "(@pytest.mark.coagent(timeout=...) sets the deadline)", pytrace=False)
        raise
