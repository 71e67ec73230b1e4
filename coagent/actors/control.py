"""Control messages: handlers that run beside the actor's data handlers, not after them.

::

    class Pause(ControlMessage):
        reason: str = ""

    class Worker(Actor):
        @handler
        async def work(self, msg: Job, ctx: Context) -> AsyncIterator[Progress]:
            while not self.paused:              # a long-running data handler
                yield await self.step()

        @handler
        async def pause(self, msg: Pause, ctx: Context) -> None:
            self.paused = True                  # served while ``work`` is still running

The rule: **data handlers are strictly serial** (at most one at a time, in arrival
order), and **control handlers are serial among themselves**, but a control message
does not wait for the running data handler. It is served on the actor's control lane
as soon as it arrives, provided the actor's instance is running; before that (while
the instance starts or restarts) it waits in the mailbox like any message. A control
handler therefore shares the instance with at most one running data handler: keep it
short, and let it only hand things over (set a flag, put into a queue).

A control handler that raises replies with the error to its caller and is logged; it
does not restart the actor (the data handler that may be running keeps its instance).

:class:`Cancel` sent to an actor that has no handler of its own for it cancels the
running data handler (its caller gets ``CallCancelled``) and stops the actor normally.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from coagent.actors.envelope import ASK, STREAM, Envelope, ExternalReply, as_coagent_error
from coagent.actors.message import Message, RawMessage
from coagent.errors import AgentStopped

if TYPE_CHECKING:
    from coagent.actors.cell import Cell

__all__ = ["ControlMessage", "Cancel", "ControlLane", "control_types", "is_control"]

log = logging.getLogger("coagent.actors")


#: ControlMessage and every subclass of it, as each is defined. The cell checks every
#: message it queues against this set: a set test inline, where a call to is_control
#: (an isinstance through the message metaclass) cost ~120 ns of a ~1.2 us local tell.
control_types: set[type] = set()


class ControlMessage(Message):
    """Base of control messages: their handlers run on the control lane (see the module)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        control_types.add(cls)


control_types.add(ControlMessage)


class Cancel(ControlMessage):
    """Cancel what the actor is doing and stop it (unless it handles ``Cancel`` itself)."""


# Per actor class: the wire names of the control messages it takes (its ControlMessage
# handlers, plus the built-in Cancel). Computed once per class and kept in the class's
# own __dict__: it is checked for every message, and a WeakKeyDictionary lookup alone
# (0.21 us, it makes a weakref each time) cost more than this whole function (0.13 us).
_NAMES = "__coagent_control_names__"


def control_names(cls: type) -> frozenset[str]:
    names: frozenset[str] | None = cls.__dict__.get(_NAMES)
    if names is None:
        table = cls._handler_table()  # type: ignore[attr-defined]
        names = frozenset(
            {t.__message_type__ for t in table if issubclass(t, ControlMessage)}
            | {Cancel.__message_type__}
        )
        setattr(cls, _NAMES, names)
    return names


def is_control(cls: type, msg: object) -> bool:
    """Whether ``msg`` goes to the control lane of an actor of class ``cls``."""
    if msg.__class__ is RawMessage:
        return msg.header.get("type", "") in control_names(cls)
    return msg.__class__ in control_types


class ControlLane:
    """The control messages of one cell and the task serving them, one at a time."""

    __slots__ = ("cell", "pending", "task")

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.pending: deque[Envelope] = deque()
        self.task: asyncio.Task[None] | None = None

    def put(self, env: Envelope) -> None:
        self.pending.append(env)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        cell = self.cell
        pending = self.pending
        try:
            while pending:
                env = pending.popleft()
                if env.cancelled:
                    continue
                inst = cell.instance
                if inst is None:
                    env.fail(AgentStopped(f"{cell.address} is not running"))
                    continue
                msg = env.msg
                if _builtin_cancel(inst, msg):
                    current = cell._current
                    if current is not None:
                        cell.cancel(current)
                    cell.request_stop(normal_exit=True)
                    await _reply_none(env)
                    continue
                try:
                    await cell._dispatch(env)
                except asyncio.CancelledError:
                    env.fail(AgentStopped(f"{cell.address} stopped during a control message"))
                    raise
                except Exception as exc:
                    log.warning("control handler of %s raised: %r", cell.address, exc)
                    env.fail(as_coagent_error(exc))
        finally:
            self.task = None


async def _reply_none(env: Envelope) -> None:
    """Acknowledge a built-in ``Cancel`` with no reply (an ask gets ``None``)."""
    if env.kind == ASK:
        fut = env.reply
        if not fut.done():
            fut.set_result(None)
            if isinstance(fut, ExternalReply):
                await fut.flush()
    elif env.kind == STREAM:
        env.reply.close()


def _builtin_cancel(inst: object, msg: object) -> bool:
    if msg.__class__ is RawMessage:
        if msg.header.get("type") != Cancel.__message_type__:
            return False
    elif not isinstance(msg, Cancel):
        return False
    return inst.__class__.handler_for(Cancel) is None  # type: ignore[attr-defined]
