"""Per-session spawning: one session supervisor per registered agent type and node.

It creates a session's actor on the first message to that session, restarts it
after a crash (with backoff, within the restart intensity), passivates it after
``idle_timeout`` and caps live sessions at ``max_sessions``.

For session actors ``permanent`` and ``transient`` both mean "restart after a
crash"; a normal exit (``ctx.stop()``) ends the session, and the next message
starts a fresh one. ``temporary`` session actors are dropped after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from coagent.actors.address import Address
from coagent.actors.cell import Cell, Restart, Terminate
from coagent.actors.context import ActorSystem
from coagent.errors import AgentStopped, RestartLimitExceeded, StoreRequired, TooManySessions
from coagent.store.base import StateStore
from coagent.supervision.durable import DeliveryTracker, DurableCell
from coagent.supervision.intensity import RestartIntensity, backoff_delay
from coagent.supervision.spec import AgentSpec
from coagent.supervision.tree import AgentTypeNode, snapshot_cell

__all__ = ["SessionSupervisor"]

log = logging.getLogger("coagent.supervision")


class SessionSupervisor:
    """Owns every live session actor of one agent type on this node."""

    def __init__(self, spec: AgentSpec, system: ActorSystem) -> None:
        self.spec = spec
        self.system = system
        self.sessions: OrderedDict[str, Cell] = OrderedDict()
        self._intensity: dict[str, RestartIntensity] = {}
        self._failed: dict[str, tuple[float, RestartLimitExceeded]] = {}
        self._stopping: dict[str, Cell] = {}
        # Cells whose instance may be live (starting, running, restarting or stopping): never
        # more than ``max_sessions``. A new session's cell waits in its gate for a slot.
        self._admitted: set[Cell] = set()
        self._slot_waiters: list[asyncio.Future[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._mailbox_size = spec.mailbox_size
        #: Called with the session id whenever a session's actor goes away for good
        #: (normal exit, dropped after a crash, passivated, node stopping). Transports
        #: use it to release the session's cluster-wide claim.
        self.on_session_end: Callable[[str], None] | None = None
        #: Where a durable type's sessions keep their state (set by the node).
        self.store: StateStore | None = None
        self.tracker: DeliveryTracker | None = None

    # ----------------------------------------------------------------- lookup

    def get(self, session: str) -> Cell:
        """The cell serving ``session``, created if this is the session's first message."""
        cell = self.sessions.get(session)
        if cell is not None:
            self.sessions.move_to_end(session)
            return cell
        return self._spawn(session)

    def _spawn(self, session: str) -> Cell:
        if self._closed:
            raise AgentStopped(f"agent {self.spec.name!r} is shutting down")
        failed = self._failed.get(session)
        if failed is not None:
            until, error = failed
            if time.monotonic() < until:
                raise error
            del self._failed[session]
        spec = self.spec
        if spec.max_sessions is not None and len(self.sessions) >= spec.max_sessions:
            self._evict_one()
        address = Address._trusted(spec.name, session)
        if spec.durable:
            if self.store is None:
                raise StoreRequired(f"durable agent {spec.name!r} needs a runtime with a store")
            cell: Cell = DurableCell(address, spec.factory, self, self.system, store=self.store,
                                     tracker=self.tracker, mailbox_size=self._mailbox_size)
        else:
            cell = Cell(address, spec.factory, self, self.system, mailbox_size=self._mailbox_size)
        cell_gate = self._gate(cell, self._stopping.get(session))
        if cell_gate is not None:
            cell.set_gate(cell_gate)
        self.sessions[session] = cell
        if spec.idle_timeout is not None and self._sweeper is None:
            self._schedule_sweep()
        return cell

    def _gate(self, cell: Cell, predecessor: Cell | None) -> Callable[[], Awaitable[None]] | None:
        """What ``cell`` waits for before its first instance starts (``None``: nothing)."""
        limit = self.spec.max_sessions
        if limit is None and predecessor is None:
            return None

        async def gate() -> None:
            if predecessor is not None:
                await predecessor.wait_stopped()  # one instance per session at a time
            if limit is None:
                return
            loop = asyncio.get_running_loop()
            while len(self._admitted) >= limit and not self._closed:
                # Only stopping cells can hold the slots a waiting cell needs (eviction keeps
                # ``sessions`` within the limit), and each stop ends within shutdown_timeout.
                fut = loop.create_future()
                self._slot_waiters.append(fut)
                try:
                    await fut
                finally:
                    if fut in self._slot_waiters:
                        self._slot_waiters.remove(fut)
            if not self._closed:
                self._admitted.add(cell)

        return gate

    def _release(self, cell: Cell) -> None:
        """``cell``'s instance has stopped for good: its ``max_sessions`` slot is free."""
        if cell in self._admitted:
            self._admitted.discard(cell)
            waiters, self._slot_waiters = self._slot_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def _evict_one(self) -> None:
        for session, cell in self.sessions.items():
            if cell.idle and _quiet(cell, float("inf")):
                self._passivate(session, cell)
                return
        raise TooManySessions(
            f"agent {self.spec.name!r} has {len(self.sessions)} live sessions"
            f" (max_sessions={self.spec.max_sessions}) and none is idle",
            max_sessions=self.spec.max_sessions,
        )

    # ------------------------------------------------------------- exits

    def child_exited(self, cell: Cell, reason: BaseException | None) -> Restart | Terminate:
        session = cell.address.session
        if reason is None:
            self._forget(session, cell)
            self._release(cell)
            self._hand_over(session, cell)
            return Terminate(AgentStopped(f"session {cell.address} ended"))
        spec = self.spec
        if spec.restart == "temporary":
            self._forget(session, cell)
            self._release(cell)
            self._hand_over(session, cell)
            return Terminate(AgentStopped(
                f"{cell.address} crashed ({cell.last_error}) and is temporary"
            ))
        intensity = self._intensity.get(session)
        if intensity is None:
            intensity = self._intensity[session] = RestartIntensity(spec.max_restarts, spec.period)
        if intensity.add():
            self._forget(session, cell)
            self._release(cell)
            error = RestartLimitExceeded(
                f"{cell.address} crashed more than {spec.max_restarts} times in {spec.period}s"
                f" (last: {cell.last_error}); it refuses messages for {spec.period}s",
                last_error=cell.last_error,
            )
            self._failed[session] = (time.monotonic() + spec.period, error)
            log.error("%s", error)
            return Terminate(error)
        attempt = len(intensity._times)
        return Restart(backoff_delay(attempt, spec.backoff_min, spec.backoff_max, spec.backoff_jitter))

    def _hand_over(self, session: str, cell: Cell) -> None:
        """Mail that reached a session after it ended goes to the session's next actor."""
        if not cell.mailbox or self._closed:
            return
        leftovers = [env for env in cell.mailbox if not env.cancelled]
        cell.mailbox.clear()
        if not leftovers:
            return
        try:
            successor = self.get(session)
        except Exception as exc:  # e.g. TooManySessions: the callers get that error
            for env in leftovers:
                env.fail(exc)
            return
        successor.adopt(leftovers)

    def _forget(self, session: str, cell: Cell) -> None:
        if self.sessions.get(session) is cell:
            del self.sessions[session]
            self._ended(session)
        self._intensity.pop(session, None)

    def _ended(self, session: str) -> None:
        hook = self.on_session_end
        if hook is not None:
            try:
                hook(session)
            except Exception:
                log.exception("on_session_end hook failed for %s", session)

    # -------------------------------------------------------- passivation

    def _schedule_sweep(self) -> None:
        timeout = self.spec.idle_timeout
        assert timeout is not None
        # An instance may ask for a shorter idle timeout (the original's BaseAgent(timeout=...)).
        for cell in self.sessions.values():
            own = getattr(cell.instance, "idle_timeout", None)
            if own is not None and own < timeout:
                timeout = own
        interval = max(0.05, min(timeout / 2, 30.0))
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        if self._closed:
            return
        timeout = self.spec.idle_timeout
        assert timeout is not None
        now = time.monotonic()
        expired = [
            (session, cell) for session, cell in self.sessions.items()
            if cell.idle and _quiet(cell, now - _idle_timeout(cell, timeout))
        ]
        for session, cell in expired:
            self._passivate(session, cell)
        now = time.monotonic()
        self._failed = {s: v for s, v in self._failed.items() if v[0] > now}
        if self.sessions:
            self._schedule_sweep()

    def _passivate(self, session: str, cell: Cell) -> asyncio.Task[None]:
        del self.sessions[session]
        self._intensity.pop(session, None)
        self._ended(session)
        # Its children stop later, with it: from now on their addresses reach the next actor
        # of this session (which waits for this one to finish stopping).
        for child in _descendants(cell):
            self.system.unregister_cell(child)
        self._stopping[session] = cell
        task = asyncio.get_running_loop().create_task(self._stop_cell(session, cell))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _stop_cell(self, session: str, cell: Cell) -> None:
        try:
            await cell.shutdown(self.spec.shutdown_timeout)
        finally:
            if self._stopping.get(session) is cell:
                del self._stopping[session]
            self._release(cell)

    async def passivate(self, session: str) -> bool:
        """Passivate ``session`` now if it is idle; ``True`` if it was."""
        cell = self.sessions.get(session)
        if cell is None or not cell.idle or not _quiet(cell, float("inf")):
            return False
        await self._passivate(session, cell)
        return True

    # ------------------------------------------------------------ lifecycle

    async def stop(self, timeout: float | None = None) -> None:
        """Stop every session actor (concurrently) and refuse new sessions."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        cells = list(self.sessions.values())
        for session in list(self.sessions):
            self._ended(session)
        self.sessions.clear()
        per_cell = self.spec.shutdown_timeout if timeout is None else timeout
        error = AgentStopped(f"agent {self.spec.name!r} was stopped")
        self._release_all()  # cells waiting for a slot see _closed and stop without starting
        await asyncio.gather(
            *(cell.shutdown(per_cell, error=error) for cell in cells), return_exceptions=True
        )
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _release_all(self) -> None:
        waiters, self._slot_waiters = self._slot_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # ------------------------------------------------------------- inspection

    def snapshot(self) -> AgentTypeNode:
        now = time.time()
        cls = self.spec.actor_class
        return AgentTypeNode(
            name=self.spec.name,
            kind=getattr(cls, "__name__", "actor"),
            description=self.spec.description,
            restart=self.spec.restart,
            sessions=[snapshot_cell(cell, now) for cell in list(self.sessions.values())],
            failed_sessions=len(self._failed),
        )

    def __repr__(self) -> str:
        return f"<SessionSupervisor {self.spec.name} sessions={len(self.sessions)}>"



def _idle_timeout(cell: Cell, default: float) -> float:
    """The instance's own idle timeout if it set one (``inf``: never), else the spec's."""
    own = getattr(cell.instance, "idle_timeout", None)
    return default if own is None else float(own)


def _quiet(cell: Cell, horizon: float) -> bool:
    """No task, no mail and no activity since ``horizon``, in ``cell`` and all its descendants.

    Messages to a supervisor's children go straight to their cells, so a session
    is idle only when its whole subtree is.
    """
    if cell.busy or cell.mailbox or cell.last_active > horizon:
        return False
    return all(_quiet(c, horizon) for c in cell.subcells())


def _descendants(cell: Cell) -> list[Cell]:
    out: list[Cell] = []
    for child in cell.subcells():
        out.append(child)
        out.extend(_descendants(child))
    return out
