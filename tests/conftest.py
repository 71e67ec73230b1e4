from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from coagent.runtimes import LocalRuntime
from tests.kit import Stateful


@pytest.fixture
async def runtime():
    async with LocalRuntime(default_timeout=10.0) as rt:
        yield rt


@pytest.fixture(autouse=True)
def _reset_journal():
    Stateful.events = []
    yield


@pytest.fixture(scope="module")
def nats_server():
    """A real nats-server (JetStream on) on a free port, for the tests of one module."""
    from coagent.testing import NATSServer

    server = NATSServer().start()
    try:
        yield server
    finally:
        server.close()
