"""``Supervisor``: an actor with static children, with Erlang/OTP's semantics.

::

    team = AgentSpec("team", new(Supervisor, children=[
        ChildSpec("a", new(A)),
        ChildSpec("b", new(B), restart="transient"),
        ChildSpec("c", new(C), restart="temporary"),
    ], strategy="one_for_one", max_restarts=3, period=5.0))

Per session, the children start in order (each fully started before the next)
and are addressable as ``Address("team.a", session)``. When a child exits:

* ``temporary`` children are never restarted and are removed;
* ``transient`` children are restarted only after an abnormal exit (a crash);
  after a normal exit (``ctx.stop()``) they stay terminated;
* ``permanent`` children are always restarted.

A restart applies the strategy: ``one_for_one`` restarts the child alone;
``one_for_all`` terminates the other children (in reverse start order) and
restarts them all (in start order); ``rest_for_one`` does that for the children
started after it. Temporary children terminated by such a restart are removed.
More than ``max_restarts`` restarts within ``period`` seconds make the
supervisor terminate all children (reverse start order) and exit with
``RestartLimitExceeded``, escalating to whoever supervises it. On shutdown,
children stop in reverse start order, each within its ``shutdown`` timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from coagent.actors.actor import Actor
from coagent.actors.address import Address
from coagent.actors.cell import DEFER, Cell, Defer
from coagent.errors import AgentStopped, NotHosted, RestartLimitExceeded
from coagent.supervision.intensity import RestartIntensity
from coagent.supervision.spec import ChildSpec

__all__ = ["Supervisor", "Strategy", "STRATEGIES"]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
STRATEGIES: tuple[str, ...] = ("one_for_one", "one_for_all", "rest_for_one")

log = logging.getLogger("coagent.supervision")


class _Child:
    __slots__ = ("cell", "generation", "spec")

    def __init__(self, spec: ChildSpec, cell: Cell) -> None:
        self.spec = spec
        self.cell = cell
        self.generation = 0


class Supervisor(Actor):
    """Supervises a fixed list of children per session (see the module docs)."""

    __slots__ = ("_children", "_closing", "intensity", "specs", "strategy")

    def __init__(
        self,
        children: Sequence[ChildSpec],
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        period: float = 5.0,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(f"max_restarts must be an integer >= 0, got {max_restarts!r}")
        if not period > 0:
            raise ValueError(f"period must be > 0 seconds, got {period!r}")
        names = [c.name for c in children]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique, got {names}")
        self.specs = list(children)
        self.strategy = strategy
        self.intensity = RestartIntensity(max_restarts, period)
        self._children: list[_Child] = []
        self._closing = False

    @property
    def _cell(self) -> Cell:
        return self.cell

    def child_cells(self) -> list[Cell]:
        """The children's cells in start order (used by the tree snapshot)."""
        return [c.cell for c in self._children]

    def child_address(self, name: str) -> Address:
        address = self.address
        if address is None:
            raise NotHosted(f"{type(self).__name__} has no address before a runtime hosts it")
        return address.child(name)

    async def started(self) -> None:
        cell = self._cell
        for spec in self.specs:
            child_cell = Cell(self.child_address(spec.name), spec.factory, self, cell.system,
                              mailbox_size=spec.mailbox_size)
            try:
                await child_cell.start()
            except BaseException:
                await self._terminate_all()
                raise
            self._children.append(_Child(spec, child_cell))
            cell.system.register_cell(child_cell)

    async def stopped(self) -> None:
        self._closing = True
        await self._terminate_all()

    # ------------------------------------------------------------ exits

    def child_exited(self, cell: Cell, reason: BaseException | None) -> Defer:
        child = self._find(cell)
        if child is not None and not self._closing:
            generation = child.generation
            self._cell.post_control(lambda: self._on_exit(child, generation, reason))
        return DEFER

    def _find(self, cell: Cell) -> _Child | None:
        for child in self._children:
            if child.cell is cell:
                return child
        return None

    async def _on_exit(self, child: _Child, generation: int, reason: BaseException | None) -> None:
        if self._closing or child.generation != generation or child not in self._children:
            return  # stale: that incarnation was already terminated by a group restart
        spec = child.spec
        if spec.restart == "temporary":
            await self._remove(child)
            return
        if spec.restart == "transient" and reason is None:
            await child.cell.shutdown(0, error=AgentStopped(f"{child.cell.address} has exited"))
            return
        await self._restart(child, reason)

    async def _restart(self, child: _Child, reason: BaseException | None) -> None:
        while True:
            if self.intensity.add():
                cause = f"{child.cell.address}: {child.cell.last_error or 'normal exit'}"
                await self._terminate_all()
                raise RestartLimitExceeded(
                    f"supervisor {self.address} gave up: more than {self.intensity.max_restarts}"
                    f" restarts in {self.intensity.period}s (last: {cause})"
                )
            group = self._group(child)
            for member in reversed(group):
                if member is not child:
                    await self._terminate(member)
            for member in list(group):
                if member.spec.restart == "temporary" and member is not child:
                    await self._remove(member)
                    group.remove(member)
            failed = None
            for member in group:
                member.generation += 1
                try:
                    await member.cell.start()
                except Exception as exc:
                    member.cell.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("restart of %s failed: %s", member.cell.address, exc)
                    failed = member
                    break
                member.cell.restarts += 1
            if failed is None:
                return
            child = failed

    def _group(self, child: _Child) -> list[_Child]:
        if self.strategy == "one_for_one":
            return [child]
        if self.strategy == "one_for_all":
            return list(self._children)
        index = self._children.index(child)
        return self._children[index:]

    async def _terminate(self, child: _Child) -> None:
        child.generation += 1
        await child.cell.shutdown(child.spec.shutdown, final=False)

    async def _remove(self, child: _Child) -> None:
        self._children.remove(child)
        self._cell.system.unregister_cell(child.cell)
        await child.cell.shutdown(child.spec.shutdown, error=AgentStopped(f"{child.cell.address} has exited"))

    async def _terminate_all(self) -> None:
        children, self._children = self._children, []
        for child in reversed(children):
            child.generation += 1
            self._cell.system.unregister_cell(child.cell)
            await child.cell.shutdown(child.spec.shutdown)
        # children started before a failing start() are tracked by the caller's list only
