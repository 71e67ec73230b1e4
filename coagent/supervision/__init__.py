"""Supervision: specs, per-session spawning, OTP-style supervisors, the tree snapshot."""

from coagent.supervision.intensity import RestartIntensity, backoff_delay
from coagent.supervision.spec import AgentSpec, ChildSpec, Factory, new
from coagent.supervision.supervisor import Supervisor
from coagent.supervision.tree import ActorNode, AgentTypeNode, NodeTree

__all__ = [
    "AgentSpec", "ChildSpec", "Factory", "new", "Supervisor",
    "ActorNode", "AgentTypeNode", "NodeTree", "RestartIntensity", "backoff_delay",
]
