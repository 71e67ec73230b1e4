"""``coagent gateway``: serve the system's agents over HTTP.

::

    coagent gateway                                        # a hub on 127.0.0.1:8000
    coagent gateway --agents examples/ping_pong.py         # ... serving those agents itself
    coagent gateway --listen 0.0.0.0:8443 --server nats://localhost:4222 \\
        --auth-file tokens.txt --tls-cert cert.pem --tls-key key.pem
"""

from __future__ import annotations

import ipaddress
from typing import Any

import click

__all__ = ["gateway"]


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host:
        raise click.BadParameter(f"expected HOST:PORT, got {listen!r}", param_hint="--listen")
    host = host.strip("[]")  # [::1]:8000
    try:
        port = int(port_text)
    except ValueError:
        raise click.BadParameter(f"the port must be a number, got {port_text!r}", param_hint="--listen") from None
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"the port must be 0-65535, got {port}", param_hint="--listen")
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@click.command()
@click.option("--listen", "-l", default="127.0.0.1:8000", show_default=True,
              help="HOST:PORT to listen on (port 0: a free one, printed at start).")
@click.option("--server", "-s", default=None,
              help="nats://... to bridge into a NATS cluster. Without it the gateway is the hub itself.")
@click.option("--auth", default=None, help="Require 'Authorization: Bearer TOKEN' on every endpoint but /v1/health.")
@click.option("--auth-file", default=None, type=click.Path(dir_okay=False),
              help="A file of accepted tokens, one a line, each optionally followed by its user's name ('#' comments).")
@click.option("--tls-cert", default=None, type=click.Path(exists=True, dir_okay=False), help="PEM certificate (chain).")
@click.option("--tls-key", default=None, type=click.Path(exists=True, dir_okay=False), help="PEM private key.")
@click.option("--agents", "targets", multiple=True,
              help="AgentSpecs to serve on the gateway's own node, as for 'coagent node' (repeatable).")
@click.option("--name", "-n", default=None, help="Node name, unique in the cluster.")
@click.option("--prefix", default="coagent", show_default=True, help="Subject prefix of the cluster.")
@click.option("--creds", default=None, type=click.Path(exists=True, dir_okay=False), help="NATS credentials file.")
@click.option("--max-body", default=1024 * 1024, show_default=True, help="Bytes a request body may have.")
@click.option("--timeout", "default_timeout", default=60.0, show_default=True,
              help="Seconds a call may take when the client sends no Coagent-Timeout.")
@click.option("--max-timeout", default=300.0, show_default=True, help="The longest Coagent-Timeout honoured.")
@click.option("--access-log", is_flag=True, help="Log one line per request (shown from -v on).")
@click.option("--store", default=None, type=click.Path(dir_okay=False),
              help="SQLite file of the durable --agents' sessions (default with --server: JetStream).")
@click.option("--redeliver-after", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds before an unacknowledged durable message is delivered again.")
@click.option("--durable-cos", "durable_cos", multiple=True, metavar="NAME",
              help="An agent type served over the original's CoS protocol whose tells are stored"
                   " (needs --store or --server) and delivered at least once. Repeatable.")
@click.option("--uvloop/--no-uvloop", default=False, help="Run on uvloop.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def gateway(listen: str, server: str | None, auth: str | None, auth_file: str | None,
            tls_cert: str | None, tls_key: str | None, targets: tuple[str, ...], name: str | None,
            prefix: str, creds: str | None, max_body: int, default_timeout: float, max_timeout: float,
            access_log: bool, store: str | None, redeliver_after: float, durable_cos: tuple[str, ...],
            uvloop: bool, verbose: int) -> None:
    """Serve the agents over HTTP: our API (/openapi.json), A2A (/a2a/NAME) and the original's CoS endpoints."""
    from coagent.cli.main import _level, _run
    from coagent.logging import set_stderr_logger

    set_stderr_logger(_level(verbose))
    from coagent.cli.telemetry import tracing_from_env

    tracing_from_env("coagent-gateway")
    try:
        from coagent.gateway import Gateway, TokenFileError, Tokens, tls_context
    except ImportError as exc:
        raise click.ClickException(
            f"the gateway needs its extra: pip install 'coagent[gateway]' ({exc})"
        ) from None
    host, port = _split_listen(listen)
    if auth and auth_file:
        raise click.UsageError("give --auth or --auth-file, not both")
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("TLS needs both --tls-cert and --tls-key")
    if server is not None and not server.startswith(("nats://", "tls://")):
        raise click.BadParameter(
            f"expected a nats:// (or tls://) URL, got {server!r} (a gateway bridges into NATS, not into another gateway)",
            param_hint="--server",
        )
    tokens = None
    try:
        if auth_file:
            tokens = Tokens.from_file(auth_file)
        elif auth:
            tokens = Tokens([auth])
    except (TokenFileError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--auth/--auth-file") from None
    ssl_context = None
    if tls_cert and tls_key:
        try:
            ssl_context = tls_context(tls_cert, tls_key)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot load the certificate and key: {exc}", param_hint="--tls-cert") from None
    from coagent.cli.serving import specs_or_exit

    specs = specs_or_exit(targets)
    if tokens is None and not _is_loopback(host):
        click.secho(
            f"WARNING: the gateway listens on {host} without authentication: anyone who can reach"
            " it can call every agent. Give --auth or --auth-file.", fg="yellow", err=True,
        )
    if durable_cos and not (store or server):
        raise click.UsageError("--durable-cos needs a store: give --store FILE (or --server nats://...)")
    options = dict(tokens=tokens, max_body=max_body, default_timeout=default_timeout, max_timeout=max_timeout,
                   access_log=access_log, durable_cos=durable_cos)
    durable = {"store": store, "redeliver_after": redeliver_after}
    _run(_serve(Gateway, options, host, port, ssl_context, specs, server, name, prefix, creds, durable),
         uvloop)


async def _serve(gateway_cls: Any, options: dict[str, Any], host: str, port: int, ssl_context: Any,
                 specs: list[Any], server: str | None, name: str | None, prefix: str,
                 creds: str | None, durable: dict[str, Any] | None = None) -> None:
    from coagent.cli.serving import node_runtime, stop_on_signals
    from coagent.errors import CoagentError
    from coagent.runtimes.node import freeze_startup_heap

    stop = stop_on_signals()
    runtime = node_runtime(server, name, prefix, creds, **(durable or {}))
    where = server or "the hub (in-process runtime)"
    async with runtime:
        for spec in specs:
            await runtime.register(spec)
        try:
            gw = gateway_cls(runtime, **options)
        except CoagentError as exc:  # e.g. --durable-cos on a NATS server without JetStream
            raise click.ClickException(str(exc)) from None
        try:
            url = await gw.start(host, port, ssl_context=ssl_context)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        freeze_startup_heap()  # the gateway, its routes and the specs live as long as it does
        served = f" serving [{', '.join(s.name for s in specs)}]" if specs else ""
        auth = "bearer auth" if options["tokens"] is not None else "no auth"
        click.echo(f"gateway {runtime.name} listening on {url} ({auth}) for {where}{served};"
                   " Ctrl-C or SIGTERM stops it", err=True)
        try:
            await stop.wait()
        finally:
            click.echo(f"gateway {runtime.name} stopping", err=True)
            await gw.stop()
