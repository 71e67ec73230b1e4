"""Durable agent types served by the ``coagent node`` processes of the durable NATS tests."""

from __future__ import annotations

import os

from coagent.agents import ChatAgent, ModelClient
from coagent.core import AgentSpec, new
from tests.durable.agents import Counter

counter = AgentSpec("counter", new(Counter), durable=True)

# ModelClient() reads MODEL_NAME / MODEL_API_BASE / MODEL_API_KEY (the fake server's).
chat = AgentSpec("chat", new(ChatAgent, system="Be brief.", client=ModelClient(num_retries=0)),
                 durable=True)

if os.environ.get("MODEL_API_BASE"):
    # Nodes of the chat test import litellm before they say they serve, all at once,
    # instead of on each node's first turn.
    from coagent.agents.model import import_litellm

    import_litellm()
