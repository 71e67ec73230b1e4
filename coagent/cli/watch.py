"""``coagent tree --watch``: the cluster's supervision tree, redrawn in place (rich ``Live``).

::

    coagent tree --watch --server nats://localhost:4222 --interval 0.5

Each redraw asks every node for its tree (the same scatter-gather as ``coagent tree``), so
sessions appear as they start, change status as they crash and restart, and disappear
when they passivate; restart counts and mailbox depths are on each line. A node that
stops answering drops out of the view at the next redraw. Ctrl-C ends it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from coagent.cli.render import tree_renderable
from coagent.supervision.tree import NodeTree

__all__ = ["watch_trees", "watch_view", "watch_cluster"]


def watch_view(trees: list[NodeTree], where: str, interval: float, *,
               max_sessions: int = 20) -> RenderableType:
    """One frame: a header line, then each node's tree."""
    sessions = sum(len(a.sessions) for t in trees for a in t.agents)
    restarts = sum(n.restarts for t in trees for n in t.actors())
    header = Text.assemble(
        ("coagent tree ", "bold"), (where, "cyan"),
        (f"  {len(trees)} node(s), {sessions} session(s), {restarts} restart(s)", ""),
        (f"  {time.strftime('%H:%M:%S')}, every {interval:g}s; Ctrl-C stops", "dim"),
    )
    if not trees:
        return Group(header, Text("no nodes answered", style="yellow"))
    return Group(header, *(tree_renderable(t, max_sessions=max_sessions) for t in trees))


async def watch_trees(fetch: Callable[[], Awaitable[list[NodeTree]]], where: str, *,
                      interval: float = 1.0, max_sessions: int = 20,
                      console: Console | None = None, frames: int | None = None) -> None:
    """Redraw ``await fetch()`` every ``interval`` seconds until cancelled (or ``frames``)."""
    console = console or Console()
    drawn = 0
    with Live(console=console, auto_refresh=False, redirect_stdout=False,
              vertical_overflow="visible") as live:
        while frames is None or drawn < frames:
            started = time.monotonic()
            trees = sorted(await fetch(), key=lambda t: t.node)
            live.update(watch_view(trees, where, interval, max_sessions=max_sessions), refresh=True)
            drawn += 1
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def watch_cluster(client: Awaitable[Any], where: str, timeout: float, interval: float,
                        max_sessions: int) -> None:
    """``coagent tree --watch``: redraw the trees of every node ``await client`` reaches."""
    async with await client as rt:
        await watch_trees(lambda: rt.cluster_tree(timeout=timeout), where, interval=interval,
                          max_sessions=max_sessions)
