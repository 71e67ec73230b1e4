"""Agents of the cross-process trace tests: ``coagent node trace_agents.py:node_a`` / ``:node_b``
/ ``:node_c``.

Two nodes: A serves the Sequential ``chain`` and its first step, B the second step, so a
call through ``chain`` crosses from A to B over NATS. Three nodes: A serves only ``chain``,
B ``first`` and C ``second``.
"""

from __future__ import annotations

from coagent.agents import ChatAgent, Sequential
from coagent.core import AgentSpec, new
from coagent.testing import ScriptedModel

chain = AgentSpec("chain", new(Sequential, "first", "second"))
first = AgentSpec("first", new(ChatAgent, client=ScriptedModel(default="from first")))
second = AgentSpec("second", new(ChatAgent, client=ScriptedModel(default="from second")))

node_a = [chain, first]
node_b = [second]

chain_only = [chain]
first_only = [first]
second_only = [second]
