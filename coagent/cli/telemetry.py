"""Tracing for the CLI's commands, from the standard ``OTEL_*`` variables.

    tracing_from_env("coagent-node-a")   # in `coagent node`: on when OTEL_EXPORTER_OTLP_ENDPOINT is set
"""

from __future__ import annotations

import os
import sys

import click

__all__ = ["tracing_from_env"]


def tracing_from_env(service_name: str) -> bool:
    """Switch tracing on as the ``OTEL_*`` variables say (``OTEL_SERVICE_NAME`` wins over
    ``service_name``); a missing extra is a one-line error and exit status 2."""
    from coagent.observability import ObservabilityUnavailable, configure_from_env

    try:
        return configure_from_env(service_name=os.getenv("OTEL_SERVICE_NAME") or service_name)
    except ObservabilityUnavailable as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)
