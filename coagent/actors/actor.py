"""The ``Actor`` base class.

Subclass it, add ``@handler`` methods, and register it with a runtime through
an ``AgentSpec``; the runtime creates one instance per session::

    class Counter(Actor):
        def __init__(self) -> None:
            self.total = 0

        @handler
        async def add(self, msg: Add, ctx: Context) -> Total:
            self.total += msg.n                 # state lives in this session's instance
            return Total(value=self.total)

        async def started(self) -> None: ...   # once per instance, before its first message
        async def stopped(self) -> None: ...   # once per instance, when it stops or crashes

At most one handler of an instance runs at a time, in arrival order.

The runtime hosts each instance in a cell (its mailbox and lifecycle). The instance
finds its address and cell through a registry of hosted instances, not through
attributes set on it, so actors may use ``__slots__``::

    class Tiny(Actor):
        __slots__ = ("count",)
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from coagent.actors.handler import HandlerInfo, collect_handlers
from coagent.actors.message import GenericMessage, Message, lookup_message_type
from coagent.actors.original import ChannelAttribute, IdAttribute
from coagent.errors import NotHosted

if TYPE_CHECKING:
    from coagent.actors.address import Address
    from coagent.actors.cell import Cell

__all__ = ["Actor", "host", "unhost"]

# id(instance) -> (weak reference to the instance, the cell hosting it). Keyed by id rather
# than by the instance so that actors with their own __eq__ (or unhashable ones, such as
# dataclasses) can be hosted; the weak reference drops the entry when the instance goes.
_HOSTS: dict[int, tuple[weakref.ref[Actor], Cell]] = {}


def host(actor: Actor, cell: Cell) -> None:
    """Record that ``cell`` hosts ``actor`` (the cell calls it before ``started()``)."""
    key = id(actor)
    hosts = _HOSTS  # bound now: at interpreter exit the module's globals are already None

    def gone(ref: weakref.ref[Actor]) -> None:
        entry = hosts.get(key)
        if entry is not None and entry[0] is ref:
            del hosts[key]

    _HOSTS[key] = (weakref.ref(actor, gone), cell)


def unhost(actor: Actor) -> None:
    """``actor`` is no longer hosted (its ``started()`` failed)."""
    entry = _HOSTS.get(id(actor))
    if entry is not None and entry[0]() is actor:
        del _HOSTS[id(actor)]


def _host_of(actor: Actor) -> Cell | None:
    entry = _HOSTS.get(id(actor))
    if entry is not None and entry[0]() is actor:
        return entry[1]
    return None


class Actor:
    """Base class of every actor (``coagent.core.BaseAgent`` is the same class).

    ``timeout`` (the original's ``BaseAgent(timeout=...)``): seconds without mail after
    which this instance is passivated, instead of its spec's ``idle_timeout``;
    ``float("inf")`` keeps it until its node stops.
    """

    # Weak references let the registry of hosted instances forget an instance with it;
    # the one slot of its own holds the original's ``BaseAgent(timeout=...)``.
    __slots__ = ("__weakref__", "_idle_timeout")

    #: The runtime's channel (``self.channel.publish(...)``), as in the original Coagent.
    channel: Any = ChannelAttribute()
    #: ``"<name>.<session>"``, as in the original Coagent.
    id: Any = IdAttribute()

    def __init__(self, timeout: float | None = None) -> None:
        if timeout is not None:
            if not timeout > 0:
                raise ValueError(f"timeout must be positive (float('inf'): never), got {timeout!r}")
            self._idle_timeout = timeout

    @property
    def idle_timeout(self) -> float | None:
        """This instance's idle timeout (``None``: its spec's ``idle_timeout``)."""
        return getattr(self, "_idle_timeout", None)

    __handler_table__: ClassVar[dict[type[Message], HandlerInfo] | None] = None
    __handlers_by_name__: ClassVar[dict[str, HandlerInfo] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__handler_table__ = None
        cls.__handlers_by_name__ = None
        try:
            cls._handler_table()
        except NameError:
            pass  # forward reference; resolved on first message

    @property
    def address(self) -> Address | None:
        """This instance's address (``None`` until a runtime hosts it, before ``started()``)."""
        cell = _host_of(self)
        return cell.address if cell is not None else None

    @property
    def cell(self) -> Cell:
        """The cell hosting this instance: its mailbox, lifecycle and actor system.

        For supervisors, which make and watch cells of their own; handlers use their
        ``Context``. Raises ``NotHosted`` before a runtime hosts the instance.
        """
        cell = _host_of(self)
        if cell is None:
            raise NotHosted(f"{type(self).__name__} instance is not hosted by a runtime yet")
        return cell

    @classmethod
    def _handler_table(cls) -> dict[type[Message], HandlerInfo]:
        table = cls.__dict__.get("__handler_table__")
        if table is None:
            table = collect_handlers(cls)
            cls.__handler_table__ = table
            cls.__handlers_by_name__ = {t.__message_type__: h for t, h in table.items()}
        return table

    @classmethod
    def handler_for(cls, msg_type: type) -> HandlerInfo | None:
        """The handler serving ``msg_type`` (exact type first, then its bases)."""
        table = cls.__dict__.get("__handler_table__") or cls._handler_table()
        info = table.get(msg_type)
        if info is None:
            for base in msg_type.__mro__[1:]:
                info = table.get(base)
                if info is not None:
                    table[msg_type] = info  # cache the resolution
                    break
            else:
                generic = table.get(GenericMessage)
                if generic is not None:
                    # The catch-all takes the typed message in its raw form.
                    info = table[msg_type] = _as_generic(generic)
        return info

    @classmethod
    def handler_for_wire_type(cls, name: str) -> tuple[HandlerInfo, type[Message]] | None:
        """The handler for wire type ``name`` and the class to decode the bytes with.

        Resolves as a typed message would: the exact type, then (for a type known in this
        process) the handler of one of its bases, including a catch-all ``Message`` handler,
        and last a ``GenericMessage`` handler, which takes any type, known here or not.
        """
        cls._handler_table()
        info = cls.__dict__["__handlers_by_name__"].get(name)
        if info is not None:
            return info, info.msg_type
        known = lookup_message_type(name)
        if known is not None:
            info = cls.handler_for(known)
            if info is not None and info.msg_type is not GenericMessage:
                return info, known
        # A GenericMessage handler takes the raw form of any other type, known here or not.
        generic = cls.__dict__["__handler_table__"].get(GenericMessage)
        return (generic, GenericMessage) if generic is not None else None

    @classmethod
    def message_types(cls) -> list[str]:
        """Wire type names this actor class handles."""
        cls._handler_table()
        return sorted(cls.__dict__["__handlers_by_name__"])

    async def started(self) -> None:
        """Called once per instance before it serves its first message."""

    async def stopped(self) -> None:
        """Called once per instance when it stops, is passivated, or has crashed."""


def _as_generic(info: HandlerInfo) -> HandlerInfo:
    """``info`` (a ``GenericMessage`` handler) adapted to take any typed message."""
    func = info.func

    def call(inst: Any, msg: Any, ctx: Any) -> Any:
        return func(inst, GenericMessage.of(msg), ctx)

    return HandlerInfo(call, GenericMessage, info.streams)
