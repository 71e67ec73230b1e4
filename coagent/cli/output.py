"""Printing messages the way the seed CLI did, as JSON, with a small jq-style filter."""

from __future__ import annotations

import json
import re
from typing import Any

from coagent.actors.message import RawMessage

__all__ = ["message_to_json", "apply_filter", "format_value", "FilterError"]


class FilterError(ValueError):
    """The ``-F`` filter is not a path this CLI understands."""


_STEP_RE = re.compile(r'\.(?:([A-Za-z_][A-Za-z0-9_-]*)|\["((?:[^"\\]|\\.)*)"\])|\[(-?\d+)\]')


def _parse(expr: str) -> list[str | int]:
    expr = expr.strip()
    if expr in ("", "."):
        return []
    steps: list[str | int] = []
    pos = 0
    while pos < len(expr):
        match = _STEP_RE.match(expr, pos)
        if match is None:
            raise FilterError(
                f"unsupported filter {expr!r}: use paths like '.', '.content.content', '.items[0]'"
            )
        name, quoted, index = match.groups()
        steps.append(int(index) if index is not None else (name if name is not None else quoted))
        pos = match.end()
    return steps


def apply_filter(value: Any, expr: str) -> Any:
    """Follow a jq-style path (``.a.b``, ``.["k"]``, ``[0]``); missing keys give ``None``."""
    for step in _parse(expr):
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and -len(value) <= step < len(value) else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def message_to_json(raw: RawMessage | None) -> Any:
    """``{"header": {...}, "content": <the body parsed as JSON, or as text>}``."""
    if raw is None:
        return None
    content: Any = None
    if raw.content:
        try:
            content = json.loads(raw.content)
        except ValueError:
            content = raw.content.decode("utf-8", "replace")
    return {"header": dict(raw.header), "content": content}


def format_value(value: Any) -> str:
    """Strings print as they are (as the seed did); everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
