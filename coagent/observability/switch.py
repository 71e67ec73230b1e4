"""The one flag the hot path reads: is any observability on in this process?

    from coagent.observability.switch import state
    if state.active:            # the only work a handled message does when all is off
        ...

This module imports nothing, so the actor layer can read the flag without pulling
OpenTelemetry in. ``coagent.observability.enable_tracing()`` / ``enable_metrics()``
set the fields and put the hook module in ``state.hooks``.
"""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["State", "state"]


class State:
    """What is switched on; read on every handled message, so one attribute each."""

    __slots__ = ("active", "content", "gateways", "hooks", "metrics", "nodes", "tracing")

    def __init__(self) -> None:
        #: tracing or metrics: the cell, transports and agents check this one flag.
        self.active = False
        self.tracing = False
        self.metrics = False
        #: Record message contents, prompts and tool arguments on spans (opt-in).
        self.content = False
        #: ``coagent.observability.hooks`` once something is switched on.
        self.hooks: Any = None
        #: Running nodes (added once at start), read by the metrics' observable gauges.
        self.nodes: weakref.WeakSet[Any] = weakref.WeakSet()
        #: Running gateways (added at start), for the HTTP side's calls in flight.
        self.gateways: weakref.WeakSet[Any] = weakref.WeakSet()

    def refresh(self) -> None:
        self.active = self.tracing or self.metrics


state = State()
