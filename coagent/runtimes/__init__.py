"""Runtimes: a node wired to its transports.

::

    from coagent.runtimes import LocalRuntime, NATSRuntime, HTTPRuntime

``LocalRuntime`` is imported eagerly; the distributed runtimes load their
transport libraries only when first named, so ``import coagent.runtimes`` stays fast.
``HTTPRuntime`` needs aiohttp (the ``gateway`` extra); without it, naming it still
works (programs written for the original import it beside ``NATSRuntime``) and
constructing one raises :class:`HTTPRuntimeUnavailable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from coagent.errors import CoagentError
from coagent.runtimes.channel import Channel
from coagent.runtimes.local import LocalRuntime
from coagent.runtimes.node import DEFAULT_TIMEOUT, Node

if TYPE_CHECKING:
    from coagent.runtimes.http import HTTPRuntime
    from coagent.runtimes.nats import NATSRuntime

__all__ = ["LocalRuntime", "NATSRuntime", "HTTPRuntime", "HTTPRuntimeUnavailable", "Node",
           "Channel", "DEFAULT_TIMEOUT"]


class HTTPRuntimeUnavailable(CoagentError):
    """aiohttp is not installed: ``pip install 'coagent[gateway]'`` for ``HTTPRuntime``."""

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
        "HTTPRuntime needs aiohttp: pip install 'coagent[gateway]' (or use NATSRuntime)"
    )


def __getattr__(name: str) -> Any:
    if name == "NATSRuntime":
        from coagent.runtimes.nats import NATSRuntime

        return NATSRuntime
    if name == "HTTPRuntime":
        try:
            from coagent.runtimes.http import HTTPRuntime
        except ImportError as exc:
            if exc.name not in ("coagent.runtimes.http", "aiohttp"):
                raise  # something else it needs is missing: say so
            return _HTTPRuntimePlaceholder
        return HTTPRuntime
    raise AttributeError(f"module 'coagent.runtimes' has no attribute {name!r}")
