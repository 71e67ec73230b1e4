"""``coagent sessions``: the stored state of durable sessions.

::

    coagent sessions --store state.db                  # SQLite (LocalRuntime, coagent node --store)
    coagent sessions --type assistant -s nats://localhost:4222   # JetStream (NATSRuntime)
    coagent sessions show assistant:s1 --store state.db          # its state as JSON
    coagent sessions delete assistant:s1 --store state.db
    coagent sessions dead-letters --store state.db
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import click

from coagent.store.base import StateStore

__all__ = ["sessions"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _store_options(func: _F) -> _F:
    """``--server``/``--store``/``--prefix``/``--creds``, on the group and on each subcommand."""
    options = [
        click.option("--server", "-s", default=None,
                     help="NATS server URL of a cluster (JetStream store)."
                          " Default: nats://localhost:4222 unless --store is given."),
        click.option("--store", default=None, type=click.Path(dir_okay=False),
                     help="SQLite store file (LocalRuntime / coagent node --store)."),
        click.option("--prefix", default=None, help="Cluster prefix (default coagent)."),
        click.option("--creds", default=None, type=click.Path(exists=True, dir_okay=False),
                     help="NATS credentials file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _where(ctx: click.Context, **given: Any) -> dict[str, Any]:
    merged = dict(ctx.obj or {})
    merged.update({k: v for k, v in given.items() if v is not None})
    if merged.get("server") and merged.get("store"):
        raise click.UsageError("give --server or --store, not both")
    path = merged.get("store")
    if path and not os.path.exists(path):
        raise click.ClickException(f"no store at {path!r}")  # never create one by looking
    return merged


@contextlib.asynccontextmanager
async def _open(where: dict[str, Any]) -> AsyncIterator[StateStore]:
    path = where.get("store")
    if path:
        from coagent.store.sqlite import SQLiteStore

        sqlite = SQLiteStore(path)
        await sqlite.open()
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    import nats

    from coagent.store.jetstream import JetStreamStore

    url = where.get("server") or "nats://localhost:4222"
    options: dict[str, Any] = {"connect_timeout": 3, "max_reconnect_attempts": 0,
                               "allow_reconnect": False}
    if where.get("creds"):
        options["user_credentials"] = where["creds"]
    try:
        nc = await nats.connect(url, **options)
    except Exception as exc:
        raise click.ClickException(f"cannot connect to {url}: {exc}") from None
    try:
        js_store = JetStreamStore(nc, prefix=where.get("prefix") or "coagent")
        await js_store.open()
        yield js_store
    finally:
        await nc.close()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    from coagent.errors import CoagentError

    try:
        asyncio.run(coro)
    except CoagentError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)


def _split(target: str) -> tuple[str, str]:
    from coagent.actors.address import Address
    from coagent.errors import InvalidAddress

    try:
        address = Address.parse(target)
    except (InvalidAddress, ValueError) as exc:
        raise click.BadParameter(f"{exc} (expected TYPE:SESSION)") from None
    return address.name, address.session


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@click.group(invoke_without_command=True)
@click.option("--type", "-t", "type_name", default=None, help="Only sessions of this agent type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_store_options
@click.pass_context
def sessions(ctx: click.Context, type_name: str | None, as_json: bool, server: str | None,
             store: str | None, prefix: str | None, creds: str | None) -> None:
    """List stored durable sessions: type, session, size, last update, messages applied."""
    ctx.obj = {"server": server, "store": store, "prefix": prefix, "creds": creds}
    if ctx.invoked_subcommand is not None:
        return
    where = _where(ctx)

    async def go() -> None:
        async with _open(where) as st:
            infos = await st.sessions(type_name)
        if as_json:
            click.echo(json.dumps([
                {"type": i.type, "session": i.session, "size": i.size, "updated": i.updated,
                 "applied": i.applied_count, "pending": i.pending} for i in infos], indent=2))
            return
        if not infos:
            click.echo("no stored sessions")
            return
        rows = [("TYPE:SESSION", "SIZE", "UPDATED", "APPLIED", "PENDING")]
        rows += [(f"{i.type}:{i.session}", str(i.size), _when(i.updated), str(i.applied_count),
                  str(i.pending)) for i in infos]
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        for r in rows:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())

    _run(go())


@sessions.command()
@click.argument("target")
@_store_options
@click.pass_context
def show(ctx: click.Context, target: str, server: str | None, store: str | None,
         prefix: str | None, creds: str | None) -> None:
    """Print the stored state of session TARGET (TYPE:SESSION) as JSON."""
    type_name, session = _split(target)
    where = _where(ctx, server=server, store=store, prefix=prefix, creds=creds)

    async def go() -> None:
        async with _open(where) as st:
            record = await st.load(type_name, session)
            pending = await st.pending(type_name, session)
        if record is None and not pending:
            raise click.ClickException(f"no stored session {target}")
        state = json.loads(record.state) if record is not None else None
        click.echo(json.dumps({
            "type": type_name, "session": session, "state": state,
            "applied": record.applied_count if record else 0,
            "updated": record.updated if record else None,
            "pending": [{"msg_id": e.msg_id, "type": e.header.get("type", ""),
                         "deliveries": e.deliveries} for e in pending],
        }, indent=2, ensure_ascii=False))

    _run(go())


@sessions.command()
@click.argument("target")
@_store_options
@click.pass_context
def delete(ctx: click.Context, target: str, server: str | None, store: str | None,
           prefix: str | None, creds: str | None) -> None:
    """Delete session TARGET's state and pending messages (its next message starts afresh)."""
    type_name, session = _split(target)
    where = _where(ctx, server=server, store=store, prefix=prefix, creds=creds)

    async def go() -> None:
        async with _open(where) as st:
            found = await st.delete(type_name, session)
        if not found:
            raise click.ClickException(f"no stored session {target}")
        click.echo(f"deleted {target}")

    _run(go())


@sessions.command("dead-letters")
@click.option("--type", "-t", "type_name", default=None, help="Only messages to this agent type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_store_options
@click.pass_context
def dead_letters(ctx: click.Context, type_name: str | None, as_json: bool, server: str | None,
                 store: str | None, prefix: str | None, creds: str | None) -> None:
    """List messages that failed max_deliveries times, with their last error."""
    where = _where(ctx, server=server, store=store, prefix=prefix, creds=creds)

    async def go() -> None:
        async with _open(where) as st:
            dead = await st.dead_letters(type_name)
        if as_json:
            click.echo(json.dumps([
                {"type": d.type, "session": d.session, "msg_id": d.msg_id,
                 "message_type": d.header.get("type", ""),
                 "content": d.content.decode("utf-8", "replace"), "error": d.error,
                 "deliveries": d.deliveries, "failed_at": d.failed_at} for d in dead], indent=2))
            return
        if not dead:
            click.echo("no dead letters")
            return
        for d in dead:
            click.echo(f"{_when(d.failed_at)}  {d.type}:{d.session}  {d.header.get('type', '')}"
                       f"  id={d.msg_id}  deliveries={d.deliveries}")
            click.echo(f"    error: {d.error}")
            click.echo(f"    message: {d.content.decode('utf-8', 'replace')[:200]}")

    _run(go())
