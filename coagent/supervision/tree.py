"""The supervision tree as data: what ``runtime.tree()`` returns and ``coagent tree`` renders."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec

from coagent.actors.cell import Cell

__all__ = ["ActorNode", "AgentTypeNode", "NodeTree", "snapshot_cell"]


class ActorNode(msgspec.Struct, kw_only=True):
    """One live actor: its address, what it is, how it is doing, and its children."""

    name: str
    session: str
    kind: str
    status: str
    restarts: int = 0
    mailbox: int = 0
    age: float = 0.0
    last_error: str | None = None
    children: list[ActorNode] = []

    @property
    def address(self) -> str:
        return f"{self.name}:{self.session}"

    def walk(self) -> Iterator[ActorNode]:
        """This actor and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


class AgentTypeNode(msgspec.Struct, kw_only=True):
    """A registered agent type and the session supervisor serving it on one node."""

    name: str
    kind: str
    description: str = ""
    restart: str = "permanent"
    sessions: list[ActorNode] = []
    failed_sessions: int = 0


class NodeTree(msgspec.Struct, kw_only=True):
    """One node: its agent types and their live sessions."""

    node: str
    runtime: str
    agents: list[AgentTypeNode] = []

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what ``coagent tree --json`` prints)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def actors(self) -> list[ActorNode]:
        """Every live actor on the node, each once."""
        return [node for agent in self.agents for session in agent.sessions for node in session.walk()]

    def find(self, name: str, session: str) -> ActorNode | None:
        for node in self.actors():
            if node.name == name and node.session == session:
                return node
        return None


def snapshot_cell(cell: Cell, now: float | None = None) -> ActorNode:
    """Describe ``cell`` and, recursively, the children it supervises."""
    now = time.time() if now is None else now
    children = [snapshot_cell(c, now) for c in cell.subcells()]
    return ActorNode(
        name=cell.address.name,
        session=cell.address.session,
        kind=cell.kind(),
        status=cell.describe_status(),
        restarts=cell.restarts,
        mailbox=cell.mailbox_depth(),
        age=round(now - cell.created, 3),
        last_error=cell.last_error,
        children=children,
    )
