"""pytest fixtures of the Coagent test kit.

Enable them in your top-level ``conftest.py``::

    pytest_plugins = ["coagent.testing.pytest_plugin"]

then::

    async def test_greets(scripted_model):
        scripted_model.add("Hello!")
        ...

    def test_end_to_end(fake_openai_server):
        fake_openai_server.add(Reply("Bonjour", chunks=["Bon", "jour"]))
        client = fake_openai_server.client()          # a ModelClient pointed at it
        ...

    def test_cluster(nats_server):
        runtime = NATSRuntime.from_servers(nats_server.url)

All fixtures are function-scoped and work in sync and async tests:
``fake_openai_server`` serves from a background thread on a fresh free port, so
it can also back subprocesses (``env={**os.environ, **server.env()}``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coagent.testing.fake_openai import FakeOpenAIServer
from coagent.testing.nats_server import NATSServer
from coagent.testing.scripted_model import ScriptedModel

__all__ = ["scripted_model", "fake_openai_server", "nats_server"]


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
