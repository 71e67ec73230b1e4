"""The ``coagent`` command line (click)."""

from coagent.cli.main import main

__all__ = ["main"]
