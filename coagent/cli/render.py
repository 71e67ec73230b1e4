"""Terminal rendering of supervision trees (rich)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from coagent.supervision.tree import ActorNode, NodeTree

__all__ = ["render_trees", "tree_renderable"]

_STATUS_STYLE = {
    "running": "bold green",
    "idle": "green",
    "new": "cyan",
    "restarting": "bold yellow",
    "stopping": "yellow",
    "stopped": "red",
}


def _actor_label(node: ActorNode) -> Text:
    label = Text()
    label.append(node.name, style="bold")
    label.append(f":{node.session}", style="dim")
    label.append(f"  {node.kind}  ", style="blue")
    label.append(node.status, style=_STATUS_STYLE.get(node.status, ""))
    if node.restarts:
        label.append(f"  restarts={node.restarts}", style="yellow")
    if node.mailbox:
        label.append(f"  mailbox={node.mailbox}", style="magenta")
    label.append(f"  age={_age(node.age)}", style="dim")
    if node.last_error:
        label.append(f"  last error: {node.last_error}", style="red")
    return label


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _add_actor(parent: Tree, node: ActorNode) -> None:
    branch = parent.add(_actor_label(node))
    for child in node.children:
        _add_actor(branch, child)


def tree_renderable(tree: NodeTree, *, max_sessions: int = 50) -> Tree:
    """A rich ``Tree`` for one node: agent types, then sessions, then their children."""
    root = Tree(Text.assemble(("node ", "dim"), (tree.node, "bold cyan"), (f"  ({tree.runtime})", "dim")))
    if not tree.agents:
        root.add(Text("no agents registered", style="dim"))
    for agent in tree.agents:
        label = Text.assemble(
            (agent.name, "bold magenta"), (f"  {agent.kind}", "blue"),
            (f"  restart={agent.restart}", "dim"), (f"  sessions={len(agent.sessions)}", "dim"),
        )
        if agent.failed_sessions:
            label.append(f"  failed={agent.failed_sessions}", style="red")
        branch = root.add(label)
        for node in agent.sessions[:max_sessions]:
            _add_actor(branch, node)
        folded = agent.sessions[max_sessions:]
        if folded:
            from_cli = sum(1 for node in folded if node.session.startswith("cli-"))
            note = f" ({from_cli} from CLI calls)" if from_cli else ""
            branch.add(Text(f"... {len(folded)} more sessions{note}", style="dim"))
    return root


def render_trees(trees: Iterable[NodeTree], console: Console | None = None, *,
                 max_sessions: int = 50) -> None:
    """Print each node's tree, at most ``max_sessions`` sessions per agent type."""
    console = console or Console()
    for tree in trees:
        console.print(tree_renderable(tree, max_sessions=max_sessions))
