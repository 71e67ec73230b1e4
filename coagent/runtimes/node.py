"""``Node``: the agent types registered in this process, routing, and in-process delivery.

Why one module of about 510 lines: registration, routing and the local and durable call
paths meet here, and splitting them would put the hot path behind one more call.

Every runtime is a node plus one :class:`~coagent.transport.base.Transport`::

    node = Node(transport=LocalTransport())        # LocalRuntime
    node = Node(transport=NATSTransport(...))      # NATSRuntime (see runtimes/nats.py)

A call to an actor served here never serialises anything; for any other address
the node asks its transport where it lives and hands the call over, without
knowing which transport that is. Deadlines, on every path, go to the node's one
:class:`~coagent.transport.deadlines.DeadlineWheel` (:meth:`Node.expire_at`): the
mechanism behind ``ctx.remaining()`` and expiry, whichever transport carried the call.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from coagent.actors.address import Address
from coagent.actors.cell import Cell
from coagent.actors.envelope import ASK, STREAM, TELL, Envelope, ReplyChannel, ReplyStream
from coagent.actors.message import RawMessage
from coagent.errors import (
    AgentAlreadyRegistered,
    AgentNotFound,
    DeadlineExceeded,
    RuntimeNotStarted,
    StoreRequired,
)
from coagent.observability.switch import state as _obs
from coagent.runtimes.calls import (
    _as_address,
    _expire_ask,
    _expire_remote_stream,
    _expire_stream,
    _under,
    decode_reply,
)
from coagent.runtimes.channel import OriginalRuntimeAPI
from coagent.runtimes.durable import DurableDelivery
from coagent.store import StateStore, open_store
from coagent.supervision.session import SessionSupervisor
from coagent.supervision.spec import AgentSpec
from coagent.supervision.tree import NodeTree
from coagent.transport.base import Transport
from coagent.transport.deadlines import Cancellable, DeadlineWheel
from coagent.transport.local import LocalTransport

__all__ = ["Node", "DEFAULT_TIMEOUT", "freeze_startup_heap"]

#: Seconds a call may take when the caller gives no timeout: nothing waits forever.
DEFAULT_TIMEOUT = 60.0


def freeze_startup_heap() -> None:
    """Move every object alive now out of the garbage collector's way (``gc.freeze()``).

    Call it once a long-running process has loaded what it serves and is about to serve::

        async with NATSRuntime.from_servers(url) as runtime:
            await runtime.register(spec)
            freeze_startup_heap()     # modules, classes and specs live as long as the process
            await stop.wait()

    ``coagent node``, ``coagent gateway`` and ``coagent mcp serve`` all do. Calls allocate
    enough to trigger a full collection every few thousand, and each full collection walks
    every object the process loaded (~40,000 for a node). benchmarks/nats.py, 100 sessions,
    uvloop: the node's collections took 0.196 s for ~65,000 calls (3 us a call), 0.11 s with
    the startup objects frozen. Frozen objects are never collected; what is loaded later is
    collected as usual.
    """
    import gc

    gc.freeze()


def _clock_of(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """``loop.time`` itself, or ``time.monotonic`` when that is all it returns.

    asyncio's own ``BaseEventLoop.time`` is a Python frame around ``time.monotonic()``
    (83 ns a call against 30, measured): every call reads the clock once for its
    deadline, so the node calls the same clock without the frame. Other loops
    (uvloop's is C) keep their own method.
    """
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


class Node(OriginalRuntimeAPI):
    """Registry of agent types plus in-process delivery (the ``ActorSystem`` of its cells).

    Use it through a runtime::

        async with LocalRuntime() as runtime:
            await runtime.register(AgentSpec("echo", new(Echo)))
            pong = await runtime.ask(Address("echo", "s1"), Ping(n=1), timeout=5)
    """

    runtime_kind = "node"

    def __init__(self, *, name: str | None = None, default_timeout: float = DEFAULT_TIMEOUT,
                 transport: Transport | None = None,
                 store: StateStore | str | None = None,
                 redeliver_after: float = 30.0) -> None:
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.default_timeout = default_timeout
        #: Carries calls to addresses not served here, and brings calls in.
        self.transport: Transport = transport if transport is not None else LocalTransport()
        self._types: dict[str, SessionSupervisor] = {}
        self._cells: dict[Address, Cell] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._now: Callable[[], float] | None = None  # the loop's clock, once started
        #: Every deadline of this node's calls, on every path (see ``expire_at``).
        self.deadlines = DeadlineWheel()
        self._started = False
        #: Durable agent types' store and delivery (``store="state.db"``: SQLite).
        self.durable: DurableDelivery | None = (
            DurableDelivery(self, open_store(store), redeliver_after=redeliver_after)
            if store is not None else None)

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the node (``async with runtime:`` does this)."""
        self._loop = asyncio.get_running_loop()
        self._now = _clock_of(self._loop)
        self.deadlines.bind(self._loop)
        self._started = True
        try:
            await self.transport.start(self)
        except BaseException:
            self._started = False
            raise
        if self.durable is not None:
            await self.durable.start()
        self._install_builtins()
        _obs.nodes.add(self)  # read by the metrics' gauges (mailbox depth, live sessions)

    async def stop(self, timeout: float | None = None) -> None:
        """Stop every agent type: session actors stop (``stopped()`` runs), callers get errors."""
        was_started, self._started = self._started, False
        _obs.nodes.discard(self)
        if was_started:
            await self.transport.stop_intake()
        types = list(self._types.values())
        for spec_sup in types:
            spec_sup.spec.detach_runtime(self)
        self._types.clear()
        await asyncio.gather(*(sup.stop(timeout) for sup in types), return_exceptions=True)
        self._cells.clear()
        if was_started and self.durable is not None:
            await self.durable.stop()
        if was_started:
            await self.transport.stop()

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----------------------------------------------------------- registration

    async def register(self, spec: AgentSpec) -> None:
        """Serve agent type ``spec.name`` on this node; sessions start on first message."""
        if not self._started:
            raise RuntimeNotStarted("start the runtime first: 'async with LocalRuntime() as rt:'")
        if not isinstance(spec, AgentSpec):
            raise TypeError(f"register() takes an AgentSpec, got {type(spec).__name__}")
        if spec.name in self._types:
            raise AgentAlreadyRegistered(f"agent {spec.name!r} is already registered on {self.name}")
        sup = self._types[spec.name] = SessionSupervisor(spec, self)
        name, ended = spec.name, self.transport.session_ended
        sup.on_session_end = lambda session: ended(name, session)
        try:
            await self.transport.serve(spec)
        except BaseException:
            if self._types.get(name) is sup:
                del self._types[name]
                await sup.stop()
            raise
        if spec.durable:
            await self._serve_durable(spec, sup)
        spec.attach_runtime(self)

    async def _serve_durable(self, spec: AgentSpec, sup: SessionSupervisor) -> None:
        if self.durable is None:
            del self._types[spec.name]
            await self.transport.withdraw((spec.name,))
            await sup.stop()
            raise StoreRequired(
                f"agent {spec.name!r} is durable: give the runtime a store"
                " (LocalRuntime(store='state.db'); NATSRuntime uses JetStream)")
        await self.durable.serve(spec)

    async def deregister(self, *names: str) -> None:
        """Stop serving the named agent types; their session actors are stopped."""
        sups = []
        for name in names:
            sup = self._types.pop(name, None)
            if sup is None:
                raise AgentNotFound(f"agent {name!r} is not registered on {self.name}")
            sup.spec.detach_runtime(self)
            if self.durable is not None:
                self.durable.withdraw(name)
            sups.append(sup)
        await self.transport.withdraw(names)
        await asyncio.gather(*(sup.stop() for sup in sups))

    def specs(self) -> list[AgentSpec]:
        """The agent types registered on this node."""
        return [sup.spec for sup in self._types.values()]

    async def discover(self, namespace: str = "") -> list[tuple[str, str]]:
        """``(name, description)`` of the agent types under ``namespace`` (all when empty),
        on this node and wherever the transport reaches."""
        local = [(s.name, s.description) for s in self.specs()]
        return _under(namespace, local + await self.transport.discover(namespace))

    def sessions_of(self, type_name: str) -> list[str]:
        """The live sessions of agent type ``type_name`` on this node."""
        sup = self._types.get(type_name)
        return list(sup.sessions) if sup is not None else []

    def supervisor(self, name: str) -> SessionSupervisor:
        """The session supervisor of agent type ``name`` on this node."""
        try:
            return self._types[name]
        except KeyError:
            raise AgentNotFound(f"agent {name!r} is not registered on {self.name}") from None

    # ActorSystem: cells of supervised children register here to be addressable.
    def register_cell(self, cell: Cell) -> None:
        self._cells[cell.address] = cell

    def unregister_cell(self, cell: Cell) -> None:
        if self._cells.get(cell.address) is cell:
            del self._cells[cell.address]

    # ---------------------------------------------------- for the transport (InboundNode)

    async def resolve(self, address: Address) -> Cell:
        """The cell for ``address`` here, starting its session (``AgentNotFound`` if not served)."""
        return await self._resolve(address)

    def deliver(self, cell: Cell, env: Envelope) -> bool:
        """Queue an inbound ``env`` if there is room (``False``: use :meth:`deliver_later`)."""
        return cell.deliver_nowait(env)

    async def deliver_later(self, cell: Cell, env: Envelope) -> None:
        """Queue an inbound ``env``, waiting for room until its deadline."""
        await cell.deliver(env, env.deadline)

    async def accept(self, address: Address, raw: RawMessage) -> RawMessage | None:
        """Store an inbound tell to a durable type served here (see :meth:`InboundNode.accept`)."""
        durable = self.durable
        if durable is None or not durable.handles(address.name):
            return raw
        return await durable.receive(address, raw)

    def expire_at(self, deadline: float, callback: Callable[..., None], *args: Any) -> Cancellable:
        """Run ``callback(*args)`` at ``deadline`` (``loop.time()`` s); the handle cancels it.

        Every deadline of every path (local and remote asks, tells, streams, served calls)
        goes through here, to one wheel per node.
        """
        return self.deadlines.at(deadline, callback, *args)

    # ---------------------------------------------------------------- routing

    def _local_cell(self, address: Address) -> Cell | None:
        """The cell for ``address``, starting its session if the type is registered here."""
        sup = self._types.get(address.name)
        if sup is not None:
            return sup.get(address.session)
        return self._cells.get(address)

    def _live_cell(self, address: Address) -> Cell | None:
        """The cell for ``address`` if it is alive on this node (never starts a session)."""
        sup = self._types.get(address.name)
        if sup is not None:
            sessions = sup.sessions
            cell = sessions.get(address.session)
            if cell is not None:
                sessions.move_to_end(address.session)  # a use: max_sessions evicts the least recent
            return cell
        return self._cells.get(address)

    def _type_of(self, name: str) -> str | None:
        """The agent type registered here that serves ``name``: itself, or a supervisor above it."""
        while True:
            if name in self._types:
                return name
            if "." not in name:
                return None
            name = name.rpartition(".")[0]

    # What transports call (InboundNode); the same functions, without a wrapper's call.
    live_cell = _live_cell
    type_of = _type_of

    async def _resolve(self, address: Address) -> Cell:
        """Find (or start) the cell for ``address`` on this node, or raise ``AgentNotFound``."""
        sup = self._types.get(address.name)
        if sup is not None:
            return sup.get(address.session)
        cell = self._cells.get(address)
        if cell is not None:
            return cell
        # A child of a supervisor: start the owning session, whose start registers its children.
        owner_type = self._type_of(address.name)
        if owner_type is not None:
            await self._types[owner_type].get(address.session).wait_ready()
            cell = self._cells.get(address)
            if cell is not None:
                return cell
        if not self._started:
            raise RuntimeNotStarted(f"node {self.name} is not running")
        raise AgentNotFound(f"no agent {address.name!r} on {self.name}", address=str(address))

    # ----------------------------------------------------------------- calls

    async def ask(
        self, address: Address | str, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> Any:
        """Send ``msg`` and wait for the reply (``DeadlineExceeded`` after ``timeout`` s).

        Past the deadline the handler is cancelled and the actor serves its next message.
        A handler that raises gives ``AgentCrashed``; a ``RawMessage`` in gives one out.
        """
        if address.__class__ is not Address:
            address = _as_address(address)
        now = self._now or asyncio.get_running_loop().time
        explicit = timeout is not None
        if timeout is None:
            timeout = self.default_timeout
        deadline = now() + timeout
        durable = self.durable
        if durable is not None:
            is_durable = durable.known(address.name)
            if is_durable is None:  # once per type: the store's answer is cached
                is_durable = await durable.lookup(address.name)
                deadline = now() + timeout
            if is_durable:
                return await durable.ask(address, msg, deadline, timeout, sender, explicit)
        return await self._send_ask(address, msg, deadline, timeout, sender, explicit)

    async def _send_ask(self, address: Address, msg: Any, deadline: float, timeout: float,
                        sender: Address | None, explicit: bool) -> Any:
        cell = self._live_cell(address)
        if cell is None:
            route = await self.transport.place(address, deadline)
            if route is not None:
                typed = msg.__class__ is not RawMessage
                reply = await self.transport.ask(
                    route, address, msg.encode() if typed else msg, deadline, sender, explicit,
                )
                if reply is None or not typed:
                    return reply
                return decode_reply(reply)
            cell = self._local_cell(address)  # starts the session without a wait when it can
            if cell is None:
                cell = await self._resolve_within(address, deadline)
        return await self._ask_cell(cell, address, msg, deadline, timeout, sender)

    async def _owner_lost(self, address: Address) -> bool:
        """Whether the node that owned ``address``'s session is gone (a transport knows)."""
        return False

    async def _ask_cell(self, cell: Cell, address: Address, msg: Any, deadline: float,
                        timeout: float, sender: Address | None) -> Any:
        loop = self._loop or asyncio.get_running_loop()
        fut = loop.create_future()
        env = Envelope(msg, ASK, fut, sender, deadline)
        if not cell.deliver_nowait(env):
            await cell.deliver(env, deadline)
        expiry = self.deadlines.at(deadline, _expire_ask, env, cell, address, timeout)
        try:
            return await fut
        except asyncio.CancelledError:
            cell.cancel(env)
            raise
        finally:
            expiry.cancel()

    async def tell(
        self, address: Address | str, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> None:
        """Send ``msg`` without waiting for a reply (waits only for mailbox room).

        The message carries its deadline like an ask does (the handler sees it as
        ``ctx.remaining()``, and calls it makes inherit it); a tell is never cancelled.
        """
        if address.__class__ is not Address:
            address = _as_address(address)
        now = self._now or asyncio.get_running_loop().time
        explicit = timeout is not None
        deadline = now() + (timeout if timeout is not None else self.default_timeout)
        durable = self.durable
        if durable is None:
            # The common case here (a live session on this node): one coroutine frame
            # fewer than through _send_tell, which was ~8% of a local tell.
            cell = self._live_cell(address)
            if cell is not None:
                env = Envelope(msg, TELL, None, sender, deadline)
                if not cell.deliver_nowait(env):
                    await cell.deliver(env, deadline)
                return
        else:
            is_durable = durable.known(address.name)
            if is_durable is None:
                is_durable = await durable.lookup(address.name)
                deadline = now() + (timeout if timeout is not None else self.default_timeout)
            if is_durable:
                await durable.tell(address, msg, deadline, sender, explicit)
                return
        await self._send_tell(address, msg, deadline, sender, explicit)

    async def _send_tell(self, address: Address, msg: Any, deadline: float,
                         sender: Address | None, explicit: bool) -> None:
        cell = self._live_cell(address)
        if cell is None:
            route = await self.transport.place(address, deadline)
            if route is not None:
                raw = msg if msg.__class__ is RawMessage else msg.encode()
                await self.transport.tell(route, address, raw, deadline, sender, explicit)
                return
            cell = self._local_cell(address)  # starts the session without a wait when it can
            if cell is None:
                cell = await self._resolve_within(address, deadline)
        env = Envelope(msg, TELL, None, sender, deadline)
        if not cell.deliver_nowait(env):
            await cell.deliver(env, deadline)

    def stream(
        self, address: Address | str, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> ReplyStream:
        """Stream replies to ``msg``; the whole stream must end within ``timeout`` s."""
        address = _as_address(address)
        return ReplyStream(lambda: self._open_stream(address, msg, timeout, sender))

    async def _open_stream(
        self, address: Address, msg: Any, timeout: float | None, sender: Address | None
    ) -> tuple[ReplyChannel, Any, Any]:
        loop = self._loop or asyncio.get_running_loop()
        limit = self.default_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        cell = self._live_cell(address)
        if cell is None:
            route = await self.transport.place(address, deadline)
            if route is not None:
                typed = msg.__class__ is not RawMessage
                opened = await self.transport.open_stream(
                    route, address, msg.encode() if typed else msg, deadline, sender,
                    timeout is not None, decode_reply if typed else None,
                )
                return opened.chan, opened.cancel, self.expire_at(
                    deadline, _expire_remote_stream, opened, address, limit)
            cell = self._local_cell(address)  # starts the session without a wait when it can
            if cell is None:
                cell = await self._resolve_within(address, deadline)
        chan = ReplyChannel()
        env = Envelope(msg, STREAM, chan, sender, deadline)
        if not cell.deliver_nowait(env):
            await cell.deliver(env, deadline)

        def cancel() -> None:
            chan.abandon()
            cell.cancel(env)

        return chan, cancel, self.expire_at(deadline, _expire_stream, env, cell, address, limit)

    async def _resolve_within(self, address: Address, deadline: float) -> Cell:
        try:
            async with asyncio.timeout_at(deadline):
                return await self._resolve(address)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{address} did not start before the deadline", address=str(address)
            ) from None

    # ------------------------------------------------------------ inspection

    async def tree(self) -> NodeTree:
        """A snapshot of this node's supervision tree."""
        return NodeTree(
            node=self.name,
            runtime=self.runtime_kind,
            agents=[sup.snapshot() for sup in self._types.values()],
        )

    async def passivate(self, address: Address) -> bool:
        """Passivate one idle session actor now (``stopped()`` runs); ``True`` if it was."""
        return await self.supervisor(address.name).passivate(address.session)
