"""What a cell's parent decides when the cell's instance exits, and the cell's states.

::

    class Watcher:                      # a Parent: anything with child_exited()
        def child_exited(self, cell: Cell, reason: BaseException | None) -> Decision:
            if reason is None:
                return Terminate(AgentStopped(f"{cell.address} ended"))
            return Restart(delay=0.1)   # or DEFER: the parent restarts it itself later
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from coagent.errors import CoagentError

if TYPE_CHECKING:
    from coagent.actors.cell import Cell

__all__ = ["CellStatus", "Restart", "Terminate", "Defer", "DEFER", "Decision", "Parent"]


class CellStatus(enum.StrEnum):
    """Where a cell is in its life (the tree shows ``RUNNING`` as running or idle)."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Restart:
    """Parent decision: make a fresh instance after ``delay`` seconds."""

    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Terminate:
    """Parent decision: stop for good; pending callers get ``error``."""

    error: CoagentError


@dataclass(frozen=True, slots=True)
class Defer:
    """Parent decision: the parent will call ``start()`` or ``shutdown()`` itself later."""


#: The one ``Defer`` decision (a supervisor restarting children by its own strategy).
DEFER = Defer()

#: What a parent decides when a child's instance exits.
Decision = Restart | Terminate | Defer


class Parent(Protocol):
    """Who supervises a cell: told when its instance exits, decides what happens next."""

    def child_exited(self, cell: Cell, reason: BaseException | None) -> Decision:
        """``reason`` is ``None`` for a normal exit, else the exception that ended it."""
