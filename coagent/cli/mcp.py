"""``coagent mcp serve``: the system's agent types as MCP tools (stdio or Streamable HTTP).

::

    coagent mcp serve --server nats://localhost:4222 --namespace team      # stdio, for an IDE
    coagent mcp serve --server http://localhost:8000 --server-auth TOKEN   # through a gateway
    coagent mcp serve --agents examples/interop/agents.py                  # a hub with its own agents
    coagent mcp serve --transport http --listen 127.0.0.1:8100 --auth-file tokens.txt

Over stdio, stdout carries the protocol and everything else goes to stderr. See
:mod:`coagent.interop.mcp_serve` for what the tools take and return.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

__all__ = ["mcp"]


@click.group("mcp")
def mcp() -> None:
    """MCP: serve agent types as MCP tools."""


@mcp.command("serve")
@click.option("--server", "-s", default=None,
              help="A NATS server URL, or a Coagent gateway's http(s):// URL (then --server-auth gives"
                   " its token). Without it: an in-process hub serving --agents.")
@click.option("--namespace", "-N", default="", help="Offer only the agent types under this namespace.")
@click.option("--agents", "targets", multiple=True,
              help="Serve these agents too (FILE.py[:spec] or module[:spec]; repeatable).")
@click.option("--transport", "-t", type=click.Choice(["stdio", "http"]), default="stdio",
              show_default=True, help="stdio (for a client that starts this command) or Streamable HTTP.")
@click.option("--listen", "-l", default="127.0.0.1:8100", show_default=True,
              help="HOST:PORT for --transport http (port 0: a free one).")
@click.option("--path", default="/mcp", show_default=True, help="The HTTP endpoint's path.")
@click.option("--auth", default=None,
              help="Require 'Authorization: Bearer TOKEN' of MCP clients (--transport http).")
@click.option("--auth-file", default=None, type=click.Path(dir_okay=False),
              help="Tokens MCP clients may send, one a line (--transport http).")
@click.option("--server-auth", default="", envvar="COAGENT_AUTH",
              help="Bearer token of the gateway at an http(s):// --server.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds one agent call may take.")
@click.option("--name", "-n", default=None, help="Node name, unique in the cluster.")
@click.option("--prefix", default="coagent", show_default=True, help="Subject prefix of the cluster.")
@click.option("--creds", default=None, type=click.Path(exists=True, dir_okay=False), help="NATS credentials file.")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
def serve(server: str | None, namespace: str, targets: tuple[str, ...], transport: str, listen: str,
          path: str, auth: str | None, auth_file: str | None, server_auth: str, timeout: float,
          name: str | None, prefix: str, creds: str | None, verbose: int) -> None:
    """Serve the agent types (under --namespace) as MCP tools, one tool per agent type."""
    from coagent.cli.gateway import _split_listen
    from coagent.cli.main import _level, _run, check_server
    from coagent.logging import set_stderr_logger

    set_stderr_logger(_level(verbose))
    try:
        import mcp as _sdk  # noqa: F401
    except ImportError:
        raise click.ClickException("MCP needs its extra: pip install 'coagent[mcp]'") from None
    if server is not None:
        check_server(server)
    if (auth or auth_file) and transport != "http":
        raise click.UsageError("--auth/--auth-file apply to --transport http")
    if auth and auth_file:
        raise click.UsageError("give --auth or --auth-file, not both")
    if timeout <= 0:
        raise click.BadParameter("must be positive", param_hint="--timeout")
    check = None
    if auth or auth_file:
        from coagent.gateway.auth import TokenFileError, Tokens

        try:
            tokens = Tokens.from_file(auth_file) if auth_file else Tokens([auth or ""])
        except (TokenFileError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--auth/--auth-file") from None
        check = tokens.check
    host, port = _split_listen(listen) if transport == "http" else ("", 0)
    from coagent.cli.serving import specs_or_exit

    specs = specs_or_exit(targets)
    _run(_serve(specs, server, namespace, transport, host, port, path, check, timeout, name, prefix, creds,
                server_auth))


async def _serve(specs: list[Any], server: str | None, namespace: str, transport: str, host: str,
                 port: int, path: str, check: Any, timeout: float, name: str | None, prefix: str,
                 creds: str | None, server_auth: str = "") -> None:
    import signal

    from coagent.cli.serving import node_runtime
    from coagent.interop.mcp_serve import agents_server, serve_http, serve_stdio
    from coagent.runtimes.node import freeze_startup_heap

    # a NATS node, an HTTPRuntime behind a gateway, or the in-process hub: as `coagent node`
    runtime = node_runtime(server, name, prefix, creds, server_auth)
    async with runtime:
        for spec in specs:
            await runtime.register(spec)
        mcp_server = agents_server(runtime, namespace=namespace, timeout=timeout)
        freeze_startup_heap()  # the MCP SDK, the server and the specs live as long as it does
        where = f" under {namespace!r}" if namespace else ""
        if transport == "stdio":
            click.echo(f"coagent mcp: serving the agent types{where} over stdio", err=True)
            await serve_stdio(mcp_server)
            return
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # uvicorn stops on the signal itself, then raises it again: this catches that one
            loop.add_signal_handler(sig, stopping.set)

        def started(url: str) -> None:
            auth = "bearer auth" if check is not None else "no auth"
            click.echo(f"coagent mcp: serving the agent types{where} at {url} ({auth});"
                       " Ctrl-C or SIGTERM stops it", err=True)

        await serve_http(mcp_server, host, port, path=path, check=check, started=started)
        click.echo("coagent mcp: stopping", err=True)
