"""The serving side: calls from other nodes into this node's mailboxes.

::

    serving = Serving(conn, subjects, placement, caller, node, debug=False)
    await serving.start()              # this node's session subjects and cancel subjects
    await serving.serve("echo")        # the type's queue group: first messages of sessions

A call arrives on ``P.a.<type>`` (queue group ``nodes``: the first message of a session)
or on ``P.n.<this node>.<name>.<session>`` (a session this node owns). It becomes an
:class:`~coagent.actors.envelope.Envelope` whose reply sink publishes the answer to
the caller's reply subject; the node queues it. A served call is tracked by its reply
subject until answered, so that its deadline (the node's deadline wheel) and a
caller's cancel (``P.ctl.<this node>.cancel`` or ``P.sys.cancel``, body: the reply
subject) reach the handler. A first message for a session another node owns is
relayed there; a cancel for it is passed on to that owner.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from coagent.actors.address import Address, validate_session
from coagent.actors.cell import Cell
from coagent.actors.envelope import ASK, STREAM, TELL, Envelope
from coagent.actors.message import RawMessage
from coagent.errors import (
    AgentNotFound,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    MessageDecodeError,
    TransportError,
)
from coagent.observability.switch import state as _obs
from coagent.transport.base import InboundNode, ServedCall
from coagent.transport.nats.caller import Caller, Relay
from coagent.transport.nats.connection import Connection, header_block, quietly
from coagent.transport.nats.placement import Placement
from coagent.transport.nats.replies import RemoteReply, RemoteStream
from coagent.transport.subjects import Subjects
from coagent.transport.wire import (
    H_ERROR,
    H_KIND,
    H_OWNER,
    H_RETRY,
    H_SENDER,
    H_SESSION,
    H_STATUS,
    H_TARGET,
    H_TIMEOUT,
    H_TYPE,
    KIND_ASK,
    KIND_STREAM,
    KIND_TELL,
    RESERVED_HEADERS,
    RETRY_MARKER,
    STATUS_NO_RESPONDERS,
    encode_error,
)

__all__ = ["Serving", "MAX_TIMEOUT"]

log = logging.getLogger("coagent.nats")

#: The longest deadline a caller can ask for (a day).
MAX_TIMEOUT = 24 * 3600.0


class Serving:
    """Takes calls from NATS, queues them on the node, tracks them until answered."""

    def __init__(self, conn: Connection, subjects: Subjects, placement: Placement, caller: Caller,
                 node: InboundNode, *, debug: bool = False) -> None:
        self.conn = conn
        self.subjects = subjects
        self.placement = placement
        self.caller = caller
        self.node = node
        self.node_name = subjects.node
        self.debug = debug
        #: Calls from other nodes in flight here, by their reply subject.
        self.calls: dict[str, ServedCall] = {}
        #: First messages relayed to their owner: caller's reply subject -> (owner, the relay).
        self.relays: dict[str, tuple[str, Relay]] = {}
        self._agent_subs: dict[str, Any] = {}
        self._subject_cache: dict[str, Address] = {}
        self._agent_prefix = f"{subjects.prefix}.a."
        self._background: set[asyncio.Task[Any]] = set()
        self._expire_at = node.deadlines.at
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reply_heads: dict[tuple[str, bool], tuple[dict[str, str], bytes]] = {}

    async def start(self) -> list[Any]:
        """Subscribe to this node's session and cancel subjects; returns the subscriptions."""
        inbound = self.conn.inbound
        return [
            await inbound.subscribe(self.subjects.node_wildcard(), self._on_node_msg),
            await inbound.subscribe(self.subjects.cancel(self.node_name), self._on_cancel),
            await inbound.subscribe(self.subjects.sys("cancel"), self._on_cancel),
        ]

    async def serve(self, name: str) -> None:
        self._agent_subs[name] = await self.conn.inbound.subscribe(
            self.subjects.agent(name), self._on_agent_msg, queue="nodes",
        )
        await self.conn.nc.flush()  # the subscription is live before anyone is told it exists

    async def withdraw(self, names: list[str] | tuple[str, ...]) -> None:
        """Stop taking first messages for ``names``; once this returns, the server knows."""
        for name in names:
            sub = self._agent_subs.pop(name, None)
            if sub is not None:
                await self.conn.inbound.unsubscribe(sub)
        await self._flush()

    async def stop_intake(self) -> None:
        """Stop taking first messages of sessions (other nodes take them from now on)."""
        for sub in list(self._agent_subs.values()):
            await self.conn.inbound.unsubscribe(sub)
        self._agent_subs.clear()
        await self._flush()

    async def _flush(self) -> None:
        # An UNSUB waits in the client's buffer; without the flush, a first message
        # published right after could still be routed here.
        nc = self.conn.nc
        if nc is not None and nc.is_connected:
            await quietly(nc.flush(timeout=2))

    def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        for served in self.calls.values():
            served.expiry.cancel()
        self.calls.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ----------------------------------------------------------------- replies

    def finished(self, reply: str) -> None:
        served = self.calls.pop(reply, None)
        if served is not None:
            served.expiry.cancel()

    def reply_head(self, type_name: str, owner: bool) -> tuple[dict[str, str], bytes]:
        """The headers of a reply of ``type_name`` (with ``owner`` if asked), and their block.

        Shared, not to be changed: a node's replies are of a few types, so each pair is
        built and encoded once, not per reply.
        """
        key = (type_name, owner)
        head = self._reply_heads.get(key)
        if head is None:
            headers = {H_OWNER: self.node_name, H_TYPE: type_name} if owner else {H_TYPE: type_name}
            head = (headers, header_block(headers))
            if len(self._reply_heads) >= 1024:
                self._reply_heads.clear()
            self._reply_heads[key] = head
        return head

    def reply_error(self, reply: str | None, exc: BaseException, **extra: str) -> None:
        if reply is None:
            log.warning("dropped a message without a reply subject: %s", exc)
            return
        code, body = encode_error(exc, debug=self.debug)
        self.conn.publish(reply, body, {H_ERROR: code, H_OWNER: self.node_name, **extra})

    # ------------------------------------------------------------------ intake

    def _on_agent_msg(self, subject: str, reply: str, data: bytes,
                      headers: dict[str, str] | None) -> None:
        headers = headers or {}
        try:
            type_name = subject[len(self._agent_prefix):]
            session = validate_session(headers.get(H_SESSION, ""))
            address = Address(headers.get(H_TARGET) or type_name, session)
        except CoagentError as exc:
            self.reply_error(reply, exc)
            return
        self._accept(reply, data, address, headers)

    def _on_node_msg(self, subject: str, reply: str, data: bytes,
                     headers: dict[str, str] | None) -> None:
        address = self._subject_cache.get(subject)
        if address is None:
            try:
                address = self.subjects.parse_node_subject(subject)
            except CoagentError as exc:
                self.reply_error(reply, exc)
                return
            if len(self._subject_cache) > 100_000:
                self._subject_cache.clear()
            self._subject_cache[subject] = address
        self._accept(reply, data, address, headers or {})

    def _accept(self, reply: str, data: bytes, address: Address, headers: dict[str, str]) -> None:
        type_name = headers.get(H_TYPE)
        if not type_name:
            self.reply_error(reply, MessageDecodeError("missing 'type' header"))
            return
        text = headers.get(H_TIMEOUT)
        timeout = self.node.default_timeout if text is None else self._timeout(text)
        raw = RawMessage(header={"type": type_name}, content=data)
        if len(headers) > 1:
            for key, value in headers.items():
                if key not in RESERVED_HEADERS:
                    raw.header[key] = value
        cell = self.node.live_cell(address)
        if cell is not None:
            self._deliver(cell, raw, reply, headers, timeout, H_SESSION in headers)
        else:
            self._spawn(self._accept_new(reply, data, address, raw, headers, timeout))

    def _timeout(self, text: str) -> float:
        """The seconds of a ``timeout`` header, bounded (the node's default if unreadable)."""
        default = self.node.default_timeout
        try:
            timeout = float(text or default)
        except ValueError:
            timeout = default
        if not math.isfinite(timeout):
            timeout = default if math.isnan(timeout) else MAX_TIMEOUT
        return min(max(timeout, 0.0), MAX_TIMEOUT)

    async def _accept_new(self, reply: str, data: bytes, address: Address, raw: RawMessage,
                          headers: dict[str, str], timeout: float) -> None:
        type_name = self.node.type_of(address.name)
        if type_name is None:
            self.reply_error(reply, AgentNotFound(
                f"no agent {address.name!r} on node {self.node_name}", address=str(address),
            ), **{H_RETRY: RETRY_MARKER})
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                owner = await self.placement.claim(type_name, address.session)
                if owner != self.node_name:
                    if headers.get(H_KIND) == KIND_STREAM or not reply:
                        # Forward with the caller's own reply subject: the owner streams to it.
                        self.conn.publish(self.subjects.session(owner, address), data, headers,
                                          reply=reply)
                        return
                    if await self._relay(reply, data, address, headers, owner, deadline):
                        return
                    # The owner stopped serving between its liveness ping and the forward.
                    owner = await self.placement.take_over(type_name, address.session, owner)
                    if owner != self.node_name:
                        self.reply_error(reply, AgentNotFound(
                            f"the owner of {address} is unreachable", address=str(address),
                        ), **{H_RETRY: RETRY_MARKER})
                        return
                cell = await self.node.resolve(address)
        except TimeoutError:
            self.reply_error(reply, DeadlineExceeded(f"{address} did not start in time"))
            return
        except CoagentError as exc:
            self.reply_error(reply, exc)
            return
        except Exception as exc:
            log.exception("accepting a message for %s failed", address)
            self.reply_error(reply, TransportError(f"{type(exc).__name__}: {exc}"))
            return
        self._deliver(cell, raw, reply, headers, max(0.0, deadline - loop.time()),
                      H_SESSION in headers)

    async def _relay(self, caller_reply: str, data: bytes, address: Address,
                     headers: dict[str, str], owner: str, deadline: float) -> bool:
        """Pass a request to the session's owner and its answer back; ``False`` if it is gone."""
        relay = self.caller.relay(self.subjects.session(owner, address), data, headers, deadline)
        self.relays[caller_reply] = (owner, relay)
        try:
            answer = await relay.wait()
        finally:
            self.relays.pop(caller_reply, None)
        if answer is None:
            return True  # the caller's deadline passed or it gave up (the owner was told)
        reply_headers, body = answer
        if reply_headers is not None and reply_headers.get(H_STATUS) == STATUS_NO_RESPONDERS:
            return False
        self.conn.publish(caller_reply, body, reply_headers)
        return True

    def _deliver(self, cell: Cell, raw: RawMessage, reply: str | None, headers: dict[str, str],
                 timeout: float, via_queue: bool = False) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        kind = headers.get(H_KIND, KIND_ASK)
        sender = None
        sender_text = headers.get(H_SENDER)
        if sender_text:
            try:
                sender = Address.parse(sender_text)
            except InvalidAddress:
                sender = None
        sink: Any
        if kind == KIND_STREAM:
            sink = RemoteStream(self, reply, via_queue)
            env = Envelope(raw, STREAM, sink, sender, deadline)
        elif kind == KIND_TELL:
            sink = None
            env = Envelope(raw, TELL, None, sender, deadline)
        else:
            sink = RemoteReply(self, reply, via_queue)
            env = Envelope(raw, ASK, sink, sender, deadline)
        if _obs.tracing:
            env.trace = _obs.hooks.extract(headers)  # the remote caller's span is the parent
        if sink is not None and reply:
            # In flight until answered: cancellable by the caller, expired at its deadline.
            # (A record of its own: were the sink the record, sink and envelope would point
            # at each other, a cycle per call left to the garbage collector.)
            self.calls[reply] = ServedCall(cell, env, self._expire_at(deadline, self._expire, reply))
        try:
            accepted = self.node.deliver(cell, env)
        except CoagentError as exc:
            if sink is not None:
                env.fail(exc)
            else:
                self.reply_error(reply, exc)
            return
        if accepted:
            if kind == KIND_TELL and reply:
                self.conn.publish(reply, b"", {H_OWNER: self.node_name} if via_queue else None)
            return
        self._spawn(self._deliver_later(cell, env, reply, kind))

    async def _deliver_later(self, cell: Cell, env: Envelope, reply: str | None, kind: str) -> None:
        try:
            await self.node.deliver_later(cell, env)
        except CoagentError as exc:
            if env.reply is not None:
                env.fail(exc)
            else:
                self.reply_error(reply, exc)
            return
        if kind == KIND_TELL and reply:
            self.conn.publish(reply, b"", {H_OWNER: self.node_name})

    def _expire(self, reply: str) -> None:
        served = self.calls.pop(reply, None)
        if served is not None:
            served.env.fail(DeadlineExceeded(f"the deadline of a call to {served.cell.address} passed"))
            served.cell.cancel(served.env)

    def _on_cancel(self, subject: str, reply_to: str, data: bytes,
                   headers: dict[str, str] | None) -> None:
        reply = data.decode("utf-8", "replace")
        served = self.calls.pop(reply, None)
        if served is not None:
            served.expiry.cancel()
            served.cell.cancel(served.env)
            served.env.reply.abandon()
            return
        relayed = self.relays.pop(reply, None)
        if relayed is not None:
            owner, relay = relayed
            self.caller.send_cancel(relay.reply_subject, owner)  # the handler runs on the owner
            relay.abandon()
