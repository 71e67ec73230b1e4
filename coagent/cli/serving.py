"""What the long-running commands (``coagent node``, ``gateway``, ``mcp serve``) share::

    specs = specs_or_exit(["app.py", "team.agents:spec"])   # a load error: one line, exit 2
    stop = stop_on_signals()                       # before anything is announced
    runtime = node_runtime(server, name, prefix, creds, auth)
    async with runtime:
        ...
        await stop.wait()
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from coagent.runtimes.node import Node

__all__ = ["node_runtime", "stop_on_signals", "specs_or_exit"]


def specs_or_exit(targets: list[str] | tuple[str, ...]) -> list[Any]:
    """The AgentSpecs found in every target; a target that cannot be loaded prints one
    ``Error:`` line on stderr and exits with status 2 (a usage error)."""
    import sys

    import click

    from coagent.cli.loader import SpecLoadError, load_specs

    specs: list[Any] = []
    try:
        for target in targets:
            specs.extend(load_specs(target))
    except SpecLoadError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)
    return specs


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM.

    Install it before announcing anything, so that a signal sent right after the
    announcement is always a graceful stop.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def node_runtime(server: str | None, name: str | None, prefix: str, creds: str | None,
                 auth: str = "", *, store: str | None = None, redeliver_after: float = 30.0,
                 claim_ttl: float = 15.0) -> Node:
    """The runtime a serving command runs: in-process without ``server``, an HTTPRuntime for
    a gateway's ``http(s)://`` URL (``auth`` is its token), else a NATS node.

    ``store`` is the SQLite file of durable agent types (a NATS node defaults to JetStream;
    the others have none without it); ``redeliver_after`` the seconds before an
    unacknowledged durable message is delivered again; ``claim_ttl`` a NATS node's lease.
    """
    durable: dict[str, Any] = {"store": store, "redeliver_after": redeliver_after}
    if server is None:
        from coagent.runtimes import LocalRuntime

        return LocalRuntime(name=name, **durable)
    if server.startswith(("http://", "https://")):
        from coagent.runtimes.http import HTTPRuntime

        return HTTPRuntime.from_server(server, auth, name=name, **durable)
    from coagent.runtimes import NATSRuntime

    options: dict[str, Any] = {"name": name, "prefix": prefix, "claim_ttl": claim_ttl, **durable}
    if creds:
        options["user_credentials"] = creds
    return NATSRuntime.from_servers(server, **options)
