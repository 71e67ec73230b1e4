"""``coagent`` commands: ``node``, ``tree``, ``agents``, ``demo``, and the seed's send form.

::

    coagent node examples/translator/translator.py --server nats://localhost:4222
    coagent tree --server nats://localhost:4222
    coagent agents --namespace team
    coagent tree --watch                    # redrawn in place until Ctrl-C
    coagent server -H type:Ping --server http://localhost:8000 --auth TOKEN   # through a gateway
    coagent translator -H type:ChatMessage --chat -d '{"role": "user", "content": "你好"}'

A little over 400 lines: one click declaration per command with its options and help text,
which read best together; the work of each command lives in its own module (``loader``,
``render``, ``watch``, ``telemetry``, ``output``, ``gateway``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

from coagent.errors import CoagentError

if TYPE_CHECKING:
    from coagent.supervision.spec import AgentSpec

__all__ = ["main", "cli"]

DEFAULT_SERVER = "nats://localhost:4222"
SERVER_HELP = ("NATS server URL (user:password@ or a token in the URL authenticate), or a Coagent"
               " gateway's http(s):// URL (then --auth gives its token).")
AUTH_HELP = "Bearer token of the gateway (with an http(s):// --server)."


class _Group(click.Group):
    """Treats an unknown first word as an agent address, as the seed CLI did."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            return "send", self.commands["send"], args
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] COMMAND [ARGS]... | ADDRESS -H type:NAME [-d JSON]")

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Usage errors print one line on stderr (click's usage and "Try ..." lines are left out)."""
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # bare `coagent`: the help, as click prints it
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.secho(f"Error: {exc.format_message()}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


class _SendCommand(click.Command):
    """The send form has no command word of its own: ``coagent ADDRESS ...``."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        parent = ctx.parent.command_path if ctx.parent else "coagent"
        formatter.write_usage(parent, "ADDRESS -H type:NAME [-d JSON] [OPTIONS]")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coagent")
def cli() -> None:
    """Coagent: agents as supervised actors, in one process or distributed over NATS.

    Send a message to an agent: coagent ADDRESS -H type:NAME -d JSON [--stream|--chat]
    """


def _run(coro: Coroutine[Any, Any, Any], use_uvloop: bool = False) -> Any:
    """Run ``coro``; expected failures print one line and exit non-zero."""
    try:
        if use_uvloop:
            import uvloop

            return uvloop.run(coro)
        return asyncio.run(coro)
    except CoagentError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


# Schemes nats-py connects with; anything else is refused before a connection is tried.
_NATS_SCHEMES = ("nats://", "tls://", "ws://", "wss://")


def is_http(url: str | None) -> bool:
    """Whether ``url`` names a Coagent gateway (``http://`` or ``https://``)."""
    return url is not None and url.strip().lower().startswith(("http://", "https://"))


def check_server(url: str) -> str:
    """``url`` if it names a NATS server or one gateway, else a one-line usage error.

    >>> check_server("nats://localhost:4222")
    'nats://localhost:4222'
    >>> check_server("http://localhost:8000")
    'http://localhost:8000'
    """
    if is_http(url):
        if "," in url:
            raise click.UsageError(f"--server {url}: give one gateway URL (http://host:8000)")
        return url.strip()
    for part in url.split(","):
        part = part.strip()
        if "://" in part and not part.lower().startswith(_NATS_SCHEMES):
            raise click.UsageError(
                f"--server {part}: unsupported scheme; give a NATS URL (nats://host:4222, tls://, ws://"
                " or wss://) or a gateway's http:// or https:// URL"
            )
    return url


def new_cli_session() -> str:
    """A fresh session for a call made without one: short and recognisable in ``coagent tree``.

    Six random hex digits (16.7 million ids) keep collisions between one user's CLI
    calls negligible while the session is alive (sessions passivate when idle).

    >>> new_cli_session()[:4]
    'cli-'
    """
    import secrets

    return f"cli-{secrets.token_hex(3)}"


def _level(verbose: int) -> str:
    return {0: "WARNING", 1: "INFO"}.get(verbose, "DEBUG")


@cli.command()
@click.option("--uvloop/--no-uvloop", default=False, help="Run on uvloop.")
def demo(uvloop: bool) -> None:
    """Run the demo on the in-process runtime: ping-pong, streaming, a crash and a restart."""
    from coagent.cli.demo import run_demo
    from coagent.logging import set_stderr_logger

    set_stderr_logger("ERROR")  # the demo narrates crashes itself
    _run(run_demo(), uvloop)


@cli.command()
@click.argument("target")
@click.option("--server", "-s", default=None, help=SERVER_HELP + " Without it: the in-process runtime.")
@click.option("--name", "-n", default=None, help="Node name, unique in the cluster.")
@click.option("--prefix", default="coagent", show_default=True, help="Subject prefix of the cluster.")
@click.option("--creds", default=None, type=click.Path(exists=True, dir_okay=False), help="NATS credentials file.")
@click.option("--auth", default="", envvar="COAGENT_AUTH", help=AUTH_HELP)
@click.option("--uvloop/--no-uvloop", default=False, help="Run on uvloop.")
@click.option("--store", default=None, type=click.Path(dir_okay=False),
              help="SQLite file of durable sessions (default with --server: JetStream).")
@click.option("--redeliver-after", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds before an unacknowledged durable message is delivered again.")
@click.option("--claim-ttl", default=15.0, show_default=True, type=click.FloatRange(min=0.3),
              help="NATS: seconds this node's session claims outlive it without a lease renewal.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--log-format", type=click.Choice(["console", "json"]), default="console",
              show_default=True, help="json: one JSON object a line (with trace_id/span_id).")
def node(target: str, server: str | None, name: str | None, prefix: str, creds: str | None,
         auth: str, uvloop: bool, store: str | None, redeliver_after: float, claim_ttl: float,
         verbose: int, log_format: str) -> None:
    """Serve the AgentSpecs found in TARGET (module or file.py, optionally :attr) until SIGINT/SIGTERM.

    Tracing follows the standard OTEL_* variables (e.g. OTEL_EXPORTER_OTLP_ENDPOINT), with
    the coagent[otel] extra installed.
    """
    from coagent.cli.serving import specs_or_exit
    from coagent.cli.telemetry import tracing_from_env
    from coagent.logging import set_stderr_logger

    if server is not None:
        check_server(server)
    set_stderr_logger(_level(verbose), fmt=log_format)
    tracing_from_env(f"coagent-node-{name or 'node'}")
    specs = specs_or_exit([target])
    _run(_serve(specs, server, name, prefix, creds, auth, store, redeliver_after, claim_ttl), uvloop)


async def _serve(specs: list[AgentSpec], server: str | None, name: str | None, prefix: str,
                 creds: str | None, auth: str = "", store: str | None = None,
                 redeliver_after: float = 30.0, claim_ttl: float = 15.0) -> None:
    from coagent.cli.serving import node_runtime, stop_on_signals
    from coagent.runtimes.node import freeze_startup_heap

    stop = stop_on_signals()
    runtime = node_runtime(server, name, prefix, creds, auth, store=store,
                           redeliver_after=redeliver_after, claim_ttl=claim_ttl)
    where = server or "the in-process runtime (no --server: nothing outside this process can reach it)"
    if server is not None and is_http(server):
        where = f"the gateway {server}"
    async with runtime:
        for spec in specs:
            await runtime.register(spec)
        freeze_startup_heap()  # what it loaded lives as long as it does (runtimes/node.py)
        names = ", ".join(spec.name for spec in specs)
        click.echo(f"node {runtime.name} serving [{names}] on {where}; Ctrl-C or SIGTERM stops it", err=True)
        await stop.wait()
        click.echo(f"node {runtime.name} stopping", err=True)


async def _client(server: str, prefix: str, creds: str | None, auth: str = "") -> Any:
    """A runtime that only calls: a NATS client connection, or an HTTPRuntime of a gateway."""
    if is_http(server):
        from coagent.runtimes.http import HTTPRuntime

        return HTTPRuntime.from_server(server, auth, connect_deadline=3.0)
    from coagent.runtimes import NATSRuntime

    options: dict[str, Any] = {"prefix": prefix, "announce": False, "connect_deadline": 3.0}
    if creds:
        options["user_credentials"] = creds
    return NATSRuntime.from_servers(server, **options)


_client_options = [
    click.option("--server", "-s", default=DEFAULT_SERVER, show_default=True, help=SERVER_HELP),
    click.option("--prefix", default="coagent", show_default=True, help="Subject prefix of the cluster."),
    click.option("--creds", default=None, type=click.Path(exists=True, dir_okay=False), help="NATS credentials file."),
    click.option("--auth", default="", envvar="COAGENT_AUTH", help=AUTH_HELP),
]


_F = TypeVar("_F", bound=Callable[..., Any])


def client_options(func: _F) -> _F:
    """The options every command talking to a cluster takes (``--server``, ``--prefix``, ``--creds``,
    ``--auth``)."""
    for option in reversed(_client_options):
        func = option(func)
    return func


@cli.command()
@client_options
@click.option("--json", "as_json", is_flag=True, help="Print the trees as JSON.")
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for nodes to answer.")
@click.option("--sessions", "max_sessions", default=20, show_default=True, type=click.IntRange(min=0),
              help="Sessions shown per agent type; the rest fold into one line (--json lists all).")
@click.option("--watch", "-w", is_flag=True, help="Redraw the tree in place until Ctrl-C.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between redraws with --watch.")
def tree(server: str, prefix: str, creds: str | None, auth: str, as_json: bool, timeout: float,
         max_sessions: int, watch: bool, interval: float) -> None:
    """Show the supervision tree of every node: agent types, sessions, children."""
    check_server(server)
    if watch and as_json:
        raise click.UsageError("--watch redraws the tree on a terminal; it does not go with --json")

    if watch:
        from coagent.cli.watch import watch_cluster

        _run(watch_cluster(_client(server, prefix, creds, auth), server, timeout, interval, max_sessions))
        return

    async def go() -> None:
        async with await _client(server, prefix, creds, auth) as rt:
            trees = await rt.cluster_tree(timeout=timeout)
        if as_json:
            click.echo(json.dumps([t.to_dict() for t in trees], indent=2, ensure_ascii=False))
            return
        if not trees:
            click.echo(f"no nodes answered on {server} (prefix {prefix!r})")
            return
        from coagent.cli.render import render_trees

        render_trees(trees, max_sessions=max_sessions)

    _run(go())


@cli.command()
@client_options
@click.option("--namespace", "-N", default=None, help="Only agents under this namespace (e.g. team).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for nodes to answer.")
def agents(server: str, prefix: str, creds: str | None, auth: str, namespace: str | None, as_json: bool,
           timeout: float) -> None:
    """List the registered agent types, their descriptions and the nodes serving them."""
    check_server(server)

    async def go() -> None:
        async with await _client(server, prefix, creds, auth) as rt:
            infos = await rt.agents(timeout=timeout)
        if is_http(server):  # the gateway's rows: one per type, with its nodes
            from types import SimpleNamespace

            infos = [SimpleNamespace(name=row["name"], description=row.get("description", ""),
                                     kind="agent", node=node)
                     for row in infos for node in row.get("nodes") or ["?"]]
        grouped: dict[str, dict[str, Any]] = {}
        for info in infos:
            if namespace and not info.name.startswith(namespace.rstrip(".") + "."):
                continue
            entry = grouped.setdefault(info.name, {
                "name": info.name, "description": info.description, "kind": info.kind, "nodes": [],
            })
            entry["nodes"].append(info.node)
        rows = [grouped[name] for name in sorted(grouped)]
        if as_json:
            click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
            return
        if not rows:
            click.echo("no agents registered" + (f" under {namespace!r}" if namespace else ""))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("agent", "description", "kind", "nodes")
        for row in rows:
            table.add_row(row["name"], row["description"], row["kind"], ", ".join(row["nodes"]))
        Console().print(table)

    _run(go())


@cli.command(hidden=True, cls=_SendCommand)
@click.argument("address")
@click.option("-H", "--header", "headers", multiple=True, help="A message header, NAME:VALUE (type:NAME is required).")
@click.option("-d", "--data", default="", help="The message body (JSON).")
@click.option("--stream", is_flag=True, help="Stream the replies.")
@click.option("--oneline", is_flag=True, help="Print streamed replies without newlines.")
@click.option("-F", "--filter", "filter_", default=".", show_default=True, help="jq-style path applied to each reply.")
@click.option("--chat", is_flag=True, help="Shorthand for --stream -F .content.content --oneline.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds the call may take.")
@client_options
@click.option("--level", default="ERROR", show_default=True, help="Logging level.")
def send(address: str, headers: tuple[str, ...], data: str, stream: bool, oneline: bool, filter_: str,
         chat: bool, timeout: float, server: str, prefix: str, creds: str | None, auth: str,
         level: str) -> None:
    """Send a message to ADDRESS (name[:session]) and print the reply as JSON."""
    from coagent.actors.address import Address
    from coagent.actors.message import RawMessage
    from coagent.cli.output import FilterError, apply_filter, format_value, message_to_json
    from coagent.logging import set_stderr_logger

    check_server(server)
    set_stderr_logger(level)
    from coagent.cli.telemetry import tracing_from_env
    from coagent.observability import span

    tracing_from_env("coagent-cli")  # with OTEL_* set, the call is the root of its trace
    if chat:
        stream, oneline, filter_ = True, True, ".content.content"
    header: dict[str, str] = {}
    for item in headers:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected NAME:VALUE, got {item!r}", param_hint="-H/--header")
        header[key.strip()] = value.strip()
    if not header.get("type"):
        raise click.UsageError("give the message type with -H type:NAME (e.g. -H type:ChatMessage)")
    try:
        apply_filter(None, filter_)
        name, _, session = address.partition(":")
        addr = Address(name, session or new_cli_session())
    except (FilterError, CoagentError) as exc:
        raise click.UsageError(str(exc)) from None
    msg = RawMessage(header=header, content=data.encode())
    end = "" if oneline else "\n"
    # Replies seen and replies the filter matched: a filter that matches none of them is
    # reported (a mistyped path must not look like an empty answer).
    seen: list[Any] = []
    matched = 0

    def show(raw: RawMessage | None) -> None:
        nonlocal matched
        if raw is None:
            return
        data = message_to_json(raw)
        seen.append(data)
        value = apply_filter(data, filter_)
        if value is None and filter_ != ".":
            return
        matched += 1
        click.echo(format_value(value), nl=False)
        click.echo(end, nl=False)
        sys.stdout.flush()

    def check_matched() -> None:
        if matched or not seen:
            return
        first = seen[0]
        content = first.get("content") if isinstance(first, dict) else None
        keys = ", ".join(sorted(content)) if isinstance(content, dict) else type(content).__name__
        what = "the reply" if len(seen) == 1 else f"any of the {len(seen)} replies"
        click.secho(
            f"Error: -F {filter_} matched nothing in {what} "
            f"(type {first['header'].get('type', '?')}, content: {keys or 'empty'})",
            fg="red", err=True,
        )
        sys.exit(1)

    async def go() -> None:
        async with await _client(server, prefix, creds, auth) as rt:
            with span(f"send {addr.name}", client=True, **{"coagent.session": addr.session}):
                await call(rt)

    async def call(rt: Any) -> None:
        if stream:
            async with rt.stream(addr, msg, timeout=timeout) as replies:
                async for chunk in replies:
                    show(chunk)
            if oneline and matched:
                click.echo()
        else:
            show(await rt.ask(addr, msg, timeout=timeout))

    _run(go())
    check_matched()


from coagent.cli.gateway import gateway  # noqa: E402  (the group must exist first)
from coagent.cli.mcp import mcp  # noqa: E402

cli.add_command(gateway)
from coagent.cli.sessions import sessions  # noqa: E402

cli.add_command(mcp)
cli.add_command(sessions)


def main() -> None:
    """The ``coagent`` command (also ``python -m coagent``)."""
    cli(prog_name="coagent")
