"""``coagent`` commands."""

from __future__ import annotations

import asyncio

import click

__all__ = ["main", "cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coagent")
def cli() -> None:
    """Coagent: agents as supervised actors, in one process or distributed over NATS."""


@cli.command()
@click.option("--uvloop/--no-uvloop", default=False, help="Run on uvloop.")
def demo(uvloop: bool) -> None:
    """Run the demo on the in-process runtime: ping-pong, streaming, a crash and a restart."""
    from coagent.cli.demo import run_demo
    from coagent.logging import set_stderr_logger

    set_stderr_logger("ERROR")  # the demo narrates crashes itself
    _run(run_demo(), uvloop)


def _run(coro, use_uvloop: bool = False):  # type: ignore[no-untyped-def]
    if use_uvloop:
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def main() -> None:
    cli()
