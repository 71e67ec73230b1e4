"""``coagent tree --watch``: the cluster's supervision tree, redrawn in place (rich ``Live``).

::

    coagent tree --watch --server nats://localhost:4222 --interval 0.5
    coagent tree --watch --server http://localhost:8000 --auth TOKEN   # through a gateway

Each redraw asks every node for its tree (the same scatter-gather as ``coagent tree``), so
sessions appear as they start, change status as they crash and restart, and disappear
when they passivate; restart counts and mailbox depths are on each line. A node that
stops answering drops out of the view at the next redraw; when the tree cannot be read at
all (the gateway restarting), the last one stays on screen under the error until it can
again. Ctrl-C ends it.
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
from coagent.errors import CoagentError
from coagent.supervision.tree import NodeTree

__all__ = ["watch_trees", "watch_view", "watch_cluster"]


def watch_view(trees: list[NodeTree], where: str, interval: float, *,
               max_sessions: int = 20, error: str | None = None) -> RenderableType:
    """One frame: a header line, then each node's tree (the last ones read, under ``error``
    when the latest read failed)."""
    sessions = sum(len(a.sessions) for t in trees for a in t.agents)
    restarts = sum(n.restarts for t in trees for n in t.actors())
    header = Text.assemble(
        ("coagent tree ", "bold"), (where, "cyan"),
        (f"  {len(trees)} node(s), {sessions} session(s), {restarts} restart(s)", ""),
        (f"  {time.strftime('%H:%M:%S')}, every {interval:g}s; Ctrl-C stops", "dim"),
    )
    lines: list[RenderableType] = [header]
    if error is not None:
        lines.append(Text(f"cannot read the tree ({error}); trying again; the last one read:",
                          style="red"))
    if not trees:
        lines.append(Text("no nodes answered", style="yellow"))
    lines.extend(tree_renderable(t, max_sessions=max_sessions) for t in trees)
    return Group(*lines)


async def watch_trees(fetch: Callable[[], Awaitable[list[NodeTree]]], where: str, *,
                      interval: float = 1.0, max_sessions: int = 20,
                      console: Console | None = None, frames: int | None = None) -> None:
    """Redraw ``await fetch()`` every ``interval`` seconds until cancelled (or ``frames``)."""
    console = console or Console()
    drawn = 0
    with Live(console=console, auto_refresh=False, redirect_stdout=False,
              vertical_overflow="visible") as live:
        trees: list[NodeTree] = []
        while frames is None or drawn < frames:
            started = time.monotonic()
            error = None
            try:
                trees = sorted(await fetch(), key=lambda t: t.node)
            except CoagentError as exc:  # a gateway restarting, NATS away: keep watching
                error = f"{type(exc).__name__}: {exc}"
            live.update(watch_view(trees, where, interval, max_sessions=max_sessions, error=error),
                        refresh=True)
            drawn += 1
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def watch_cluster(client: Awaitable[Any], where: str, timeout: float, interval: float,
                        max_sessions: int) -> None:
    """``coagent tree --watch``: redraw the trees of every node ``await client`` reaches."""
    async with await client as rt:
        await watch_trees(lambda: rt.cluster_tree(timeout=timeout), where, interval=interval,
                          max_sessions=max_sessions)
