"""The cell: an actor instance, its mailbox, and the task that drains it.

A cell outlives the instances it hosts: when a handler crashes, the parent (a
supervisor) decides whether a fresh instance is made from the factory, and the
mailbox, with everything already accepted, carries over to it.

Scheduling: an idle cell holds no task. Mail arriving at an idle cell starts a
drain task that serves messages one at a time, in arrival order, and ends when
the mailbox is empty. The control lane (supervision signals, stop requests)
is served before data.

Why one module of about 700 lines: intake, lifecycle (start, restart, shutdown) and
the drain are one state machine over the same fields (status, task, mailbox, stop
request, waiters); each transition reads and writes state that the others rely on,
so splitting them apart would spread one invariant over several files. The parts
with a reason of their own live beside it: the parent's decisions and the states
(``lifecycle.py``) and how replies reach callers (``replies.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, assert_never

from coagent.actors.actor import host, unhost
from coagent.actors.address import Address, validate_name
from coagent.actors.context import ActorSystem, Context
from coagent.actors.control import ControlLane, control_types, is_control
from coagent.actors.envelope import (
    ASK,
    STREAM,
    Envelope,
    ReplyChannel,
    as_coagent_error,
)
from coagent.actors.lifecycle import DEFER, CellStatus, Decision, Defer, Parent, Restart, Terminate
from coagent.actors.message import RawMessage
from coagent.actors.replies import answer as _answer
from coagent.actors.replies import encode as _encode
from coagent.actors.replies import serve_stream
from coagent.errors import (
    AgentStopped,
    CallCancelled,
    CoagentError,
    DuplicateChild,
    MailboxFull,
    MessageDecodeError,
    UnknownMessage,
)
from coagent.observability.switch import state as _obs

if TYPE_CHECKING:
    from coagent.actors.actor import Actor

__all__ = ["Cell", "Parent", "Restart", "Terminate", "Defer", "DEFER", "Decision", "CellStatus"]

log = logging.getLogger("coagent.actors")


# States in which new mail waits for the parent instead of starting the drain.
_NO_AUTOSTART = frozenset((CellStatus.RESTARTING, CellStatus.STOPPING, CellStatus.STARTING))

# Member lookups on an enum class cost 0.12 us each on 3.11 (EnumType.__getattr__); the
# per-message paths compare against these instead.
_STOPPED = CellStatus.STOPPED
_NEW = CellStatus.NEW

_EXIT_NORMAL = 1  # ctx.stop(): the actor ends itself, the parent is told
_EXIT_SHUTDOWN = 2  # the parent (or the node) stops it, nobody is told


class Cell:
    """Hosts one actor instance at a time for one address."""

    __slots__ = (
        "__weakref__",
        "_cancel_target",
        "_control",
        "_control_lane",
        "_current",
        "_final_error",
        "_gate",
        "_killing",
        "_put_waiters",
        "_ready_waiters",
        "_stop",
        "_stop_waiters",
        "_task",
        "address",
        "capacity",
        "children",
        "created",
        "factory",
        "instance",
        "last_active",
        "last_error",
        "mailbox",
        "parent",
        "restart_log",
        "restarts",
        "status",
        "system",
    )

    def __init__(
        self,
        address: Address,
        factory: Callable[[], Actor],
        parent: Parent,
        system: ActorSystem,
        *,
        mailbox_size: int = 0,
        gate: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.address = address
        self.factory = factory
        self.parent = parent
        self.system = system
        self.instance: Actor | None = None
        self.status = CellStatus.NEW
        self.restarts = 0
        self.created = time.time()
        self.last_error: str | None = None
        self.mailbox: deque[Envelope] = deque()
        self.capacity = mailbox_size if mailbox_size and mailbox_size > 0 else 0
        self.restart_log: deque[float] | None = None
        self.children: dict[str, Cell] | None = None
        self._control: deque[Callable[[], Awaitable[None]]] | None = None
        self._control_lane: ControlLane | None = None
        self._put_waiters: deque[asyncio.Future[None]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._current: Envelope | None = None
        self._cancel_target: Envelope | None = None
        self._stop = 0
        self._final_error: CoagentError | None = None
        self._stop_waiters: list[asyncio.Future[None]] | None = None
        self._ready_waiters: list[asyncio.Future[None]] | None = None
        self.last_active = time.monotonic()
        self._killing = False
        # Awaited once before the first instance starts: a session supervisor uses it to
        # wait for the session's previous cell to stop and for a free ``max_sessions`` slot.
        self._gate = gate

    # ------------------------------------------------------------------ intake

    @property
    def busy(self) -> bool:
        """A drain task is running (a handler, a start or a stop is in progress)."""
        return self._task is not None

    @property
    def idle(self) -> bool:
        """Alive, with nothing queued and no task: safe to passivate."""
        return self._task is None and not self.mailbox and self.status == CellStatus.RUNNING

    def deliver_nowait(self, env: Envelope) -> bool:
        """Queue ``env`` if there is room; ``False`` when the mailbox is full."""
        if self.status is _STOPPED:
            raise self._final_error or AgentStopped(f"{self.address} has stopped")
        inst = self.instance
        if inst is not None:
            mcls = env.msg.__class__
            if mcls in control_types or (
                mcls is RawMessage and is_control(inst.__class__, env.msg)
            ):
                # ControlMessage handlers do not wait for the running data handler (control.py).
                lane = self._control_lane
                if lane is None:
                    lane = self._control_lane = ControlLane(self)
                lane.put(env)
                return True
        mailbox = self.mailbox
        if self.capacity and len(mailbox) >= self.capacity:
            return False
        mailbox.append(env)
        if self._task is None and self.status not in _NO_AUTOSTART:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return True

    async def deliver(self, env: Envelope, deadline: float | None) -> None:
        """Queue ``env``, waiting for room until ``deadline`` (then ``MailboxFull``)."""
        if self.deliver_nowait(env):
            return
        loop = asyncio.get_running_loop()
        waiters = self._put_waiters
        if waiters is None:
            waiters = self._put_waiters = deque()
        while True:
            fut = loop.create_future()
            waiters.append(fut)
            try:
                if deadline is None:
                    await fut
                else:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise TimeoutError
                    async with asyncio.timeout(left):
                        await fut
            except BaseException as exc:
                if fut.done() and not fut.cancelled():
                    self._wake_putter()  # we were woken but leave: pass the turn on
                if isinstance(exc, TimeoutError):
                    raise MailboxFull(
                        f"mailbox of {self.address} stayed full ({self.capacity} messages)",
                        capacity=self.capacity,
                    ) from None
                raise
            finally:
                if not fut.done():
                    fut.cancel()
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
            if self.deliver_nowait(env):
                return

    def _wake_putter(self) -> None:
        waiters = self._put_waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def post_control(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` in this cell's task before its next data message."""
        if self._control is None:
            self._control = deque()
        self._control.append(fn)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def cancel(self, env: Envelope) -> None:
        """The caller gave up on ``env``: skip it if queued, cancel its handler if running."""
        env.cancelled = True
        if self._current is env and self._task is not None and self._cancel_target is None:
            self._cancel_target = env
            self._task.cancel()

    def set_gate(self, gate: Callable[[], Awaitable[None]]) -> None:
        """Await ``gate()`` in this cell's task before its first instance starts."""
        self._gate = gate

    # --------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Make and start an instance in the caller's task; raises what ``started()`` raises.

        Used by supervisors that start children in order, each fully started
        before the next (as OTP does).
        """
        self._stop = 0
        self._final_error = None
        try:
            await self._instantiate()
        except BaseException:
            self.status = CellStatus.RESTARTING  # the supervisor decides what happens next
            raise
        self._kick()

    def adopt(self, envelopes: list[Envelope]) -> None:
        """Take over mail accepted by this address's previous cell, ahead of newer mail."""
        self.mailbox.extendleft(reversed(envelopes))
        if self.status not in _NO_AUTOSTART:
            self._kick()

    def _kick(self) -> None:
        if self._task is None and (self.mailbox or self._control or self.status == CellStatus.NEW):
            self._task = asyncio.get_running_loop().create_task(self._run())

    def request_stop(self, *, normal_exit: bool) -> None:
        """Ask the cell to stop after its current handler."""
        if normal_exit:
            self._stop = self._stop or _EXIT_NORMAL
        else:
            self._stop = _EXIT_SHUTDOWN
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def shutdown(self, timeout: float | None = 5.0, *, final: bool = True,
                       error: CoagentError | None = None) -> None:
        """Stop the instance (``stopped()`` runs), waiting up to ``timeout`` before cancelling it.

        ``final=True`` also fails whatever is still queued with ``error`` (default
        ``AgentStopped``) and refuses new mail; ``final=False`` keeps the mailbox
        for a later ``start()``.
        """
        if self.status == CellStatus.STOPPED and self.instance is None and self._task is None:
            if final:
                self._fail_pending(error or self._final_error or AgentStopped(f"{self.address} stopped"))
            return
        if final:
            self._final_error = error or AgentStopped(f"{self.address} was stopped")
        self._stop = _EXIT_SHUTDOWN
        current = asyncio.current_task()
        if self._task is current:
            await self._stop_now(final)  # stopping itself from its own handler
            return
        loop = asyncio.get_running_loop()
        existing = self._task is not None
        if not existing:
            # Run the stop in the cell's own task so that the timeout below can cancel it.
            self._task = loop.create_task(self._run())
        waiter = loop.create_future()
        if self._stop_waiters is None:
            self._stop_waiters = []
        self._stop_waiters.append(waiter)
        if existing and self.status == CellStatus.RESTARTING and self._current is None:
            # Sleeping in a restart backoff: nothing to finish.
            self._kill()
        try:
            if timeout is None:
                await asyncio.shield(waiter)
            else:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(waiter)
        except TimeoutError:
            self._kill()
            task = self._task
            if task is not None:
                await asyncio.wait([task], timeout=max(timeout or 0.0, 1.0))
                if self._task is task and task.done():
                    # Cancelled before it ever ran, so its own clean-up never happened.
                    self._task = None
                    self._killing = False
                    self.instance = None
                    self.status = CellStatus.STOPPED if final else CellStatus.RESTARTING
                    self._resolve_stop_waiters()
        if self._task is None and self.instance is not None:
            await self._stop_now(final)  # the task ended without reaching the stop
        elif final:
            self.status = CellStatus.STOPPED
            self._fail_pending(self._final_error or AgentStopped(f"{self.address} stopped"))

    def _kill(self) -> None:
        task = self._task
        if task is not None and not self._killing:
            self._killing = True
            task.cancel()

    async def wait_stopped(self) -> None:
        """Wait until a stop in progress has finished."""
        if self._task is None:
            return
        fut = asyncio.get_running_loop().create_future()
        if self._stop_waiters is None:
            self._stop_waiters = []
        self._stop_waiters.append(fut)
        await asyncio.shield(fut)

    async def _stop_now(self, final: bool) -> None:
        self.status = CellStatus.STOPPING
        await self._stop_children()
        inst = self.instance
        self.instance = None
        if inst is not None:
            await self._call_stopped(inst)
        self.status = CellStatus.STOPPED if final else CellStatus.RESTARTING
        if not final:
            self._stop = 0
        if final:
            self._fail_pending(self._final_error or AgentStopped(f"{self.address} stopped"))
            self._resolve_ready_waiters()
        self._resolve_stop_waiters()

    def _resolve_stop_waiters(self) -> None:
        waiters = self._stop_waiters
        if waiters:
            self._stop_waiters = None
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def _fail_pending(self, error: CoagentError) -> None:
        mailbox = self.mailbox
        while mailbox:
            mailbox.popleft().fail(error)
        waiters = self._put_waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the retry sees STOPPED and raises

    async def _instantiate(self) -> None:
        inst = self.factory()
        host(inst, self)
        # STARTING: mail arriving meanwhile waits instead of starting a second instance.
        self.status = CellStatus.STARTING
        try:
            await inst.started()
        except BaseException:
            unhost(inst)
            raise
        self.instance = inst
        self.status = CellStatus.RUNNING
        self._resolve_ready_waiters()

    def _resolve_ready_waiters(self, error: BaseException | None = None) -> None:
        waiters = self._ready_waiters
        if waiters:
            self._ready_waiters = None
            for fut in waiters:
                if not fut.done():
                    if error is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(error)

    async def wait_ready(self) -> None:
        """Start the instance if needed and wait until it runs (or the cell stops for good)."""
        if self.status == CellStatus.RUNNING and self.instance is not None:
            return
        if self.status == CellStatus.STOPPED:
            raise self._final_error or AgentStopped(f"{self.address} has stopped")
        fut = asyncio.get_running_loop().create_future()
        if self._ready_waiters is None:
            self._ready_waiters = []
        self._ready_waiters.append(fut)
        self._kick()
        await fut
        status: CellStatus = self.status  # changed while we waited (mypy narrowed it above)
        if status == CellStatus.STOPPED:
            raise self._final_error or AgentStopped(f"{self.address} has stopped")

    async def _call_stopped(self, inst: Actor) -> None:
        try:
            await inst.stopped()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stopped() of %s raised", self.address)

    # --------------------------------------------------------------- children

    async def spawn_child(self, name: str, factory: Callable[[], Actor], *,
                          mailbox_size: int | None = None) -> Address:
        validate_name(name)
        if self.children is None:
            self.children = {}
        if name in self.children:
            raise DuplicateChild(f"{self.address} already has a child named {name!r}", child=name)
        address = Address._trusted(f"{self.address.name}.{name}", self.address.session)
        child = Cell(address, factory, _DynamicParent(self), self.system,
                     mailbox_size=self.capacity if mailbox_size is None else mailbox_size)
        await child.start()
        self.children[name] = child
        self.system.register_cell(child)
        return address

    async def _stop_children(self) -> None:
        children = self.children
        if not children:
            return
        self.children = None
        for child in reversed(list(children.values())):
            self.system.unregister_cell(child)
            await child.shutdown(5.0)

    # ------------------------------------------------------------- the drain

    async def _run(self) -> None:
        try:
            await self._drain()
        except asyncio.CancelledError:
            if not self._killing:
                raise
            # Killed by shutdown after its timeout: no stopped(), as OTP's brutal kill.
            env = self._current
            if env is not None:
                env.fail(self._final_error or AgentStopped(f"{self.address} was killed"))
            self.instance = None
            self.status = (
                CellStatus.STOPPED if self._final_error is not None else CellStatus.RESTARTING
            )
            if self._final_error is not None:
                self._fail_pending(self._final_error)
            self._resolve_stop_waiters()
        finally:
            self._task = None
            self._current = None
            self._killing = False
            self.last_active = time.monotonic()
            self._resolve_stop_waiters()
            if self.status is _STOPPED:
                self._resolve_ready_waiters()

    async def _drain(self) -> None:
        if self._gate is not None:
            gate, self._gate = self._gate, None
            await gate()
        if (self.instance is None and self.status is _NEW and not self._stop
                and not await self._start_or_recover()):
            return
        mailbox = self.mailbox
        task = self._task
        while True:
            control = self._control
            if control:
                fn = control.popleft()
                try:
                    await fn()
                except Exception as exc:
                    if not await self._crashed(exc):
                        return
                continue
            if self._stop:
                await self._finish_stop()
                return
            if not mailbox or self.instance is None:
                return
            env = mailbox.popleft()
            if self._put_waiters:
                self._wake_putter()
            if env.cancelled:
                continue
            self._current = env
            try:
                if _obs.active:  # the one check observability costs when off
                    await _obs.hooks.dispatch(self, env)
                else:
                    await self._dispatch(env)
            except asyncio.CancelledError as exc:
                if self._killing:
                    raise
                if self._cancel_target is env:
                    task.uncancel()  # type: ignore[union-attr]
                    self._cancel_target = None
                    self._current = None
                    env.fail(CallCancelled(f"call to {self.address} was cancelled"))
                    continue
                if task.cancelling():  # type: ignore[union-attr]
                    raise  # this task itself is being cancelled from outside
                # A CancelledError the handler caught from something else: a crash like any other.
                self._current = None
                env.fail(as_coagent_error(exc))
                if not await self._crashed(exc):
                    return
                continue
            except CoagentError as exc:
                self._current = None
                self._clear_cancel(env, task)
                env.fail(exc)
                if exc.restarts_actor and not await self._crashed(exc):
                    return
                continue
            except Exception as exc:
                self._current = None
                self._clear_cancel(env, task)
                env.fail(as_coagent_error(exc))
                if not await self._crashed(exc):
                    return
                continue
            self._current = None
            self._clear_cancel(env, task)

    def _clear_cancel(self, env: Envelope, task: Any) -> None:
        """The handler swallowed (or converted) our cancellation: keep it out of the next one."""
        if self._cancel_target is env:
            task.uncancel()
            self._cancel_target = None

    async def _dispatch(self, env: Envelope) -> None:
        inst = self.instance
        assert inst is not None  # the drain dispatches only to a started instance
        cls = inst.__class__
        msg = env.msg
        raw = msg.__class__ is RawMessage
        if raw:
            type_name = msg.header.get("type", "")
            found = cls.handler_for_wire_type(type_name)
            if found is None:
                env.fail(UnknownMessage(
                    f"{self.address.name} has no handler for message type {type_name!r}",
                    type=type_name,
                ))
                return
            info, mtype = found
            try:
                msg = mtype.from_raw(msg)
            except MessageDecodeError as exc:
                env.fail(exc)
                return
        else:
            typed_info = cls.handler_for(msg.__class__)
            if typed_info is None:
                name = getattr(msg, "__message_type__", type(msg).__name__)
                env.fail(UnknownMessage(
                    f"{self.address.name} has no handler for message type {name!r}", type=name,
                ))
                return
            info = typed_info
        ctx = Context(self, env.sender, env.deadline, env.kind == STREAM)
        if info.streams:
            await self._serve_stream(env, info.func(inst, msg, ctx), raw)
            return
        result = await info.func(inst, msg, ctx)
        if result is not None and hasattr(result, "__anext__"):
            await self._serve_stream(env, result, raw)
            return
        kind = env.kind
        if kind == ASK:
            await _answer(env, result, raw)
        elif kind == STREAM:
            chan: ReplyChannel = env.reply
            if result is not None:
                await chan.send(_encode(result) if raw else result)
            chan.close()

    async def _serve_stream(self, env: Envelope, agen: Any, raw: bool) -> None:
        await serve_stream(env, agen, raw)

    async def _finish_stop(self) -> None:
        reason = self._stop
        if reason == _EXIT_SHUTDOWN:
            await self._stop_now(self._final_error is not None)
            return
        # A normal exit requested by the actor itself: tell the parent.
        self._stop = 0
        self.status = CellStatus.STOPPING
        await self._stop_children()
        inst, self.instance = self.instance, None
        if inst is not None:
            await self._call_stopped(inst)
        await self._apply(self.parent.child_exited(self, None), None)
        self._resolve_stop_waiters()

    async def _crashed(self, exc: BaseException) -> bool:
        """Handle an abnormal exit; ``True`` if a fresh instance now serves the mailbox."""
        self.last_error = _describe(exc)
        log.warning("%s crashed: %s", self.address, self.last_error)
        if _obs.active:
            _obs.hooks.crashed(self, exc)
        await self._stop_children()
        inst, self.instance = self.instance, None
        if inst is not None:
            await self._call_stopped(inst)
        restarted = await self._apply(self.parent.child_exited(self, exc), exc)
        if _obs.active:
            _obs.hooks.after_crash(self, exc, restarted)
        return restarted

    async def _apply(self, decision: Decision, exc: BaseException | None) -> bool:
        while True:
            if isinstance(decision, Defer):
                self.status = CellStatus.RESTARTING
                return False
            if isinstance(decision, Terminate):
                self.status = CellStatus.STOPPED
                self._final_error = decision.error
                self._fail_pending(decision.error)
                self._resolve_stop_waiters()
                self._resolve_ready_waiters()
                return False
            if not isinstance(decision, Restart):
                assert_never(decision)
            self.status = CellStatus.RESTARTING
            self.restarts += 1
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)
            if self._stop:
                return True  # the drain loop finishes the stop
            try:
                await self._instantiate()
                return True
            except Exception as start_exc:
                self.last_error = _describe(start_exc)
                log.warning("%s failed to restart: %s", self.address, self.last_error)
                self._resolve_ready_waiters(as_coagent_error(start_exc))
                decision = self.parent.child_exited(self, start_exc)

    async def _start_or_recover(self) -> bool:
        try:
            await self._instantiate()
            return True
        except Exception as exc:
            self.last_error = _describe(exc)
            log.warning("%s failed to start: %s", self.address, self.last_error)
            # The message that triggered the start gets the error at once.
            error = as_coagent_error(exc)
            if self.mailbox:
                env = self.mailbox.popleft()
                env.fail(error)
                if self._put_waiters:
                    self._wake_putter()
            self._resolve_ready_waiters(error)  # e.g. callers of its children
            return await self._apply(self.parent.child_exited(self, exc), exc)

    # ------------------------------------------------------------- inspection

    def describe_status(self) -> str:
        """The status as the tree shows it: a running cell is ``running`` or ``idle``."""
        status = self.status
        if status == CellStatus.RUNNING:
            return "running" if self._current is not None else "idle"
        return status.value

    def subcells(self) -> list[Cell]:
        """The cells this one supervises: those its instance declares (a supervisor's
        ``child_cells()``), then those it spawned with ``ctx.spawn``."""
        declared = getattr(self.instance, "child_cells", None)
        out = list(declared()) if declared is not None else []
        if self.children:
            out.extend(self.children.values())
        return out

    def mailbox_depth(self) -> int:
        return len(self.mailbox)

    def kind(self) -> str:
        cls = getattr(self.factory, "cls", None)
        if cls is None and self.instance is not None:
            cls = type(self.instance)
        return getattr(cls, "__name__", type(self.factory).__name__)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _DynamicParent:
    """Parent of children made with ``ctx.spawn``: they are never restarted."""

    __slots__ = ("owner",)

    def __init__(self, owner: Cell) -> None:
        self.owner = owner

    def child_exited(self, cell: Cell, reason: BaseException | None) -> Terminate:
        owner = self.owner
        if owner.children is not None:
            for name, child in list(owner.children.items()):
                if child is cell:
                    del owner.children[name]
        owner.system.unregister_cell(cell)
        if reason is None:
            return Terminate(AgentStopped(f"{cell.address} has stopped"))
        return Terminate(AgentStopped(f"{cell.address} crashed earlier: {_describe(reason)}"))

