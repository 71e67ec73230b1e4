"""Runtimes: a node wired to its transports.

``LocalRuntime`` is imported eagerly; the distributed runtimes load their
transport libraries only when first named, so ``import coagent.runtimes`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coagent.runtimes.local import LocalRuntime
from coagent.runtimes.node import DEFAULT_TIMEOUT, Node

if TYPE_CHECKING:
    from coagent.runtimes.nats import NATSRuntime

__all__ = ["LocalRuntime", "NATSRuntime", "Node", "DEFAULT_TIMEOUT"]


def __getattr__(name: str) -> Any:
    if name == "NATSRuntime":
        from coagent.runtimes.nats import NATSRuntime

        return NATSRuntime
    if name == "HTTPRuntime":
        raise ImportError(
            "HTTPRuntime is not available yet in this Coagent; use NATSRuntime for distributed agents"
        )
    raise AttributeError(f"module 'coagent.runtimes' has no attribute {name!r}")
