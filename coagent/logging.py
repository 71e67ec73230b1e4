"""Logging set-up: structured lines on stderr, via structlog over the standard library.

::

    from coagent.core import logger, set_stderr_logger

    set_stderr_logger("TRACE")          # the original Coagent's level names work too
    logger.info("node up")
    logger.trace("every message")       # below DEBUG
    logger.success("all agents ready")  # between INFO and WARNING

Level names are the standard library's plus the original Coagent's (loguru's)
``TRACE`` (5) and ``SUCCESS`` (25); unknown names raise ``ValueError`` naming the known ones.
``set_stderr_logger("INFO", fmt="json")`` writes one JSON object a line (what
``coagent node --log-format json`` does); while tracing is on, every line logged inside a
span carries its ``trace_id`` and ``span_id``, so logs and traces join up.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

__all__ = ["set_stderr_logger", "logger", "CoagentLogger", "TRACE", "SUCCESS", "LEVELS",
           "add_trace_ids", "FORMATS"]

#: The values of ``set_stderr_logger(fmt=...)`` and ``coagent node --log-format``.
FORMATS = ("console", "json")

#: Below DEBUG: per-message tracing (loguru's level number).
TRACE = 5
#: Between INFO and WARNING: something finished well (loguru's level number).
SUCCESS = 25

logging.addLevelName(TRACE, "TRACE")
logging.addLevelName(SUCCESS, "SUCCESS")

#: The level names ``set_stderr_logger`` accepts, and their numbers.
LEVELS: dict[str, int] = {
    "TRACE": TRACE,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": SUCCESS,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}


class CoagentLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ``coagent`` logger with the original's ``trace`` and ``success`` methods."""

    def trace(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.log(TRACE, msg, *args, **kwargs)

    def success(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.log(SUCCESS, msg, *args, **kwargs)


#: The original Coagent's ``coagent.core.logger``: ``logger.info(...)``, ``logger.trace(...)``.
logger = CoagentLogger(logging.getLogger("coagent"), {})


def _level_number(level: int | str) -> int:
    if isinstance(level, int):
        return level
    number = LEVELS.get(level.upper())
    if number is None:
        known = ", ".join(n for n in LEVELS if n not in ("WARN", "FATAL"))
        raise ValueError(f"unknown log level {level!r}; use one of {known}")
    return number


def add_trace_ids(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` (hex) of the current span, if any."""
    from coagent.observability.switch import state

    if state.tracing:
        from opentelemetry import trace

        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            event.setdefault("trace_id", format(ctx.trace_id, "032x"))
            event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


def set_stderr_logger(level: int | str = "INFO", fmt: str = "console") -> None:
    """Send Coagent's logs (and the root logger's) to stderr as readable key=value lines,
    or with ``fmt="json"`` as one JSON object a line (timestamps in ISO 8601, UTC).

    ::

        from coagent.core import set_stderr_logger
        set_stderr_logger("DEBUG")
        set_stderr_logger("INFO", fmt="json")   # {"event": ..., "level": ..., "trace_id": ...}
    """
    import structlog

    number = _level_number(level)
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; use one of {', '.join(FORMATS)}")
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        stamp = structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if fmt == "json" else []),
            renderer,
        ],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            stamp,
            add_trace_ids,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler._coagent = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_coagent", False)]
    root.addHandler(handler)
    root.setLevel(number)
