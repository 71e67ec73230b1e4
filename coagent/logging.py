"""Logging set-up: structured lines on stderr, via structlog over the standard library."""

from __future__ import annotations

import logging
import sys

__all__ = ["set_stderr_logger"]


def set_stderr_logger(level: int | str = logging.INFO) -> None:
    """Send Coagent's logs (and the root logger's) to stderr as readable key=value lines.

    ::

        from coagent.core import set_stderr_logger
        set_stderr_logger("DEBUG")
    """
    import structlog

    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler._coagent = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_coagent", False)]
    root.addHandler(handler)
    root.setLevel(level)
