"""``Node``: the agent types registered in this process and in-process delivery.

Every runtime is a node; the distributed ones add transports for addresses
that live elsewhere. Calls to actors on this node never serialise anything.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from coagent.actors.address import Address
from coagent.actors.cell import Cell
from coagent.actors.envelope import ASK, STREAM, TELL, Envelope, ReplyChannel, ReplyStream
from coagent.errors import (
    AgentAlreadyRegistered,
    AgentNotFound,
    DeadlineExceeded,
    InvalidAddress,
    RuntimeNotStarted,
)
from coagent.runtimes.channel import OriginalRuntimeAPI
from coagent.supervision.session import SessionSupervisor
from coagent.supervision.spec import AgentSpec
from coagent.supervision.tree import NodeTree

__all__ = ["Node", "DEFAULT_TIMEOUT"]

#: Seconds a call may take when the caller gives no timeout: nothing waits forever.
DEFAULT_TIMEOUT = 60.0


def _expire_ask(env: Envelope, cell: Cell, address: Address, timeout: float) -> None:
    fut = env.reply
    if not fut.done():
        fut.set_exception(DeadlineExceeded(
            f"no reply from {address} within {timeout:g}s", address=str(address), timeout=timeout,
        ))
    cell.cancel(env)


def _expire_stream(env: Envelope, cell: Cell, address: Address, timeout: float) -> None:
    env.reply.close(DeadlineExceeded(
        f"stream from {address} did not finish within {timeout:g}s",
        address=str(address), timeout=timeout,
    ))
    cell.cancel(env)


def _as_address(address: Address | str) -> Address:
    if address.__class__ is Address:
        return address
    if isinstance(address, str):
        return Address.parse(address)
    raise InvalidAddress(f"expected an Address or 'name[:session]', got {address!r}")


class Node(OriginalRuntimeAPI):
    """Registry of agent types plus in-process delivery (the ``ActorSystem`` of its cells).

    Use it through a runtime::

        async with LocalRuntime() as runtime:
            await runtime.register(AgentSpec("echo", new(Echo)))
            pong = await runtime.ask(Address("echo", "s1"), Ping(n=1), timeout=5)
    """

    runtime_kind = "node"

    def __init__(self, *, name: str | None = None, default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.default_timeout = default_timeout
        self._types: dict[str, SessionSupervisor] = {}
        self._cells: dict[Address, Cell] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the node (``async with runtime:`` does this)."""
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._install_builtins()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop every agent type: session actors stop (``stopped()`` runs), callers get errors."""
        self._started = False
        types = list(self._types.values())
        for spec_sup in types:
            spec_sup.spec.detach_runtime(self)
        self._types.clear()
        await asyncio.gather(*(sup.stop(timeout) for sup in types), return_exceptions=True)
        self._cells.clear()

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
        self._types[spec.name] = SessionSupervisor(spec, self)
        spec.attach_runtime(self)

    async def deregister(self, *names: str) -> None:
        """Stop serving the named agent types; their session actors are stopped."""
        sups = []
        for name in names:
            sup = self._types.pop(name, None)
            if sup is None:
                raise AgentNotFound(f"agent {name!r} is not registered on {self.name}")
            sup.spec.detach_runtime(self)
            sups.append(sup)
        await asyncio.gather(*(sup.stop() for sup in sups))

    def specs(self) -> list[AgentSpec]:
        """The agent types registered on this node."""
        return [sup.spec for sup in self._types.values()]

    async def discover(self, namespace: str = "") -> list[tuple[str, str]]:
        """``(name, description)`` of the agent types under ``namespace`` (all when empty)."""
        return _under(namespace, ((s.name, s.description) for s in self.specs()))

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
            return sup.sessions.get(address.session)
        return self._cells.get(address)

    def _type_of(self, name: str) -> str | None:
        """The agent type registered here that serves ``name``: itself, or a supervisor above it."""
        while True:
            if name in self._types:
                return name
            if "." not in name:
                return None
            name = name.rpartition(".")[0]

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
        loop = self._loop or asyncio.get_running_loop()
        if timeout is None:
            timeout = self.default_timeout
        deadline = loop.time() + timeout
        cell = self._local_cell(address)
        if cell is None:
            cell = await self._resolve_within(address, deadline)
        return await self._ask_cell(cell, address, msg, deadline, timeout, sender)

    async def _ask_cell(self, cell: Cell, address: Address, msg: Any, deadline: float,
                        timeout: float, sender: Address | None) -> Any:
        loop = self._loop or asyncio.get_running_loop()
        fut = loop.create_future()
        env = Envelope(msg, ASK, fut, sender, deadline)
        if not cell.deliver_nowait(env):
            await cell.deliver(env, deadline)
        timer = loop.call_at(deadline, _expire_ask, env, cell, address, timeout)
        try:
            return await fut
        except asyncio.CancelledError:
            cell.cancel(env)
            raise
        finally:
            timer.cancel()

    async def tell(
        self, address: Address | str, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> None:
        """Send ``msg`` without waiting for a reply (waits only for mailbox room)."""
        if address.__class__ is not Address:
            address = _as_address(address)
        cell = self._local_cell(address)
        env = Envelope(msg, TELL, None, sender, None)
        if cell is not None and cell.deliver_nowait(env):
            return
        loop = self._loop or asyncio.get_running_loop()
        deadline = loop.time() + (self.default_timeout if timeout is None else timeout)
        if cell is None:
            cell = await self._resolve_within(address, deadline)
        await cell.deliver(env, deadline)

    def stream(
        self, address: Address | str, msg: Any, *, timeout: float | None = None,
        sender: Address | None = None,
    ) -> ReplyStream:
        """Stream replies to ``msg``; the whole stream must end within ``timeout`` s."""
        address = _as_address(address)
        return ReplyStream(lambda: self._open_local_stream(address, msg, timeout, sender))

    async def _open_local_stream(
        self, address: Address, msg: Any, timeout: float | None, sender: Address | None
    ) -> tuple[ReplyChannel, Any, Any]:
        loop = self._loop or asyncio.get_running_loop()
        limit = self.default_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        cell = self._local_cell(address)
        if cell is None:
            cell = await self._resolve_within(address, deadline)
        chan = ReplyChannel()
        env = Envelope(msg, STREAM, chan, sender, deadline)
        if not cell.deliver_nowait(env):
            await cell.deliver(env, deadline)
        timer = loop.call_at(deadline, _expire_stream, env, cell, address, limit)

        def cancel() -> None:
            chan.abandon()
            cell.cancel(env)

        return chan, cancel, timer

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


def _under(namespace: str, pairs: Any) -> list[tuple[str, str]]:
    prefix = namespace.rstrip(".") + "." if namespace else ""
    seen: dict[str, str] = {}
    for name, description in pairs:
        if name.startswith(prefix) and name not in seen:
            seen[name] = description
    return sorted(seen.items())
