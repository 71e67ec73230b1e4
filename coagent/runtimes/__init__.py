"""Runtimes: a node wired to its transports.

::

    from coagent.runtimes import LocalRuntime, NATSRuntime, HTTPRuntime

``LocalRuntime`` is imported eagerly; the distributed runtimes load their
transport libraries only when first named, so ``import coagent.runtimes`` stays fast.
Naming ``HTTPRuntime`` always works, so programs written for the original Coagent
that import it beside ``NATSRuntime`` run; while this build has no HTTP transport,
constructing one raises :class:`HTTPRuntimeUnavailable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from coagent.errors import CoagentError
from coagent.runtimes.channel import Channel
from coagent.runtimes.local import LocalRuntime
from coagent.runtimes.node import DEFAULT_TIMEOUT, Node

if TYPE_CHECKING:
    from coagent.runtimes.nats import NATSRuntime

__all__ = ["LocalRuntime", "NATSRuntime", "HTTPRuntime", "HTTPRuntimeUnavailable", "Node",
           "Channel", "DEFAULT_TIMEOUT"]


class HTTPRuntimeUnavailable(CoagentError):
    """This build has no HTTP transport; use ``NATSRuntime`` for distributed agents."""

    code = "http_runtime_unavailable"


class _HTTPRuntimePlaceholder:
    """Stands for ``HTTPRuntime`` until the HTTP transport is installed: naming it works,
    building one raises :class:`HTTPRuntimeUnavailable`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable()

    @classmethod
    def from_server(cls, *args: Any, **kwargs: Any) -> NoReturn:
        _unavailable()


def _unavailable() -> NoReturn:
    raise HTTPRuntimeUnavailable(
        "HTTPRuntime is not available in this Coagent build; use NATSRuntime for distributed agents"
    )


def __getattr__(name: str) -> Any:
    if name == "NATSRuntime":
        from coagent.runtimes.nats import NATSRuntime

        return NATSRuntime
    if name == "HTTPRuntime":
        try:
            from coagent.runtimes.http import HTTPRuntime  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            if exc.name != "coagent.runtimes.http":
                raise  # the module exists but something it needs is missing: say so
            return _HTTPRuntimePlaceholder
        return HTTPRuntime
    raise AttributeError(f"module 'coagent.runtimes' has no attribute {name!r}")
