"""Agent types served by other processes over HTTP, as agents of the gateway's node.

Why one module of about 500 lines: both dialects share the providers' bookkeeping (open,
close, calls in flight failing at once, and the durable tells of both: waiting for the
serving process's store, or for a CoS client's answer).

::

    hosted = Hosted(runtime)
    provider = await hosted.open("cos", ["server"], {"server": "The Pong Server."})
    while (event := await provider.next_event()) is not None:
        ...                      # SSE data: AgentCreated (CoS) or a delivery (our API)
    await hosted.close(provider) # the types are deregistered; calls in flight fail at once

Each type an outside process registers becomes an :class:`AgentSpec` on the gateway's
node whose actor, :class:`Relay`, forwards every message to that process and waits for
what it posts back. So the type is an agent like any other: reachable from HTTP
clients, from this process, and from every NATS node when the gateway is one; its
sessions are supervised, passivated and shown in the tree here.

Two dialects share this bookkeeping:

- ``"cos"`` (the original's CoS): one stream per type; each new session is announced
  with ``AgentCreated``, the outside process subscribes to the session and answers by
  publishing to the reply topic each message carries. The session's messages wait in
  a bounded mailbox while no subscriber is connected, for ``grace`` seconds.
- ``"v1"`` (ours): one stream of deliveries for any number of types; each delivery has
  a call id, and the process posts the answer (a reply, stream items, an error) to it.

This module does not know the HTTP stack: :mod:`coagent.gateway.serving` does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from coagent.actors.actor import Actor
from coagent.actors.address import Address, validate_name
from coagent.actors.context import Context
from coagent.actors.handler import handler
from coagent.actors.message import GenericMessage, RawMessage, lookup_message_type
from coagent.errors import (
    AgentAlreadyRegistered,
    AgentDisconnected,
    AgentNotFound,
    CoagentError,
    DeadlineExceeded,
    MailboxFull,
    StoreRequired,
)
from coagent.gateway.codec import CosAddress, CosHeader, CosMessage, json_content, raw_to_cos_json
from coagent.gateway.providers import (
    SESSION_QUEUE,
    CosSession,
    Created,
    Delivery,
    Dialect,
    Provider,
    Waiter,
)
from coagent.observability.switch import state as _obs
from coagent.supervision.spec import AgentSpec, new

__all__ = ["Hosted", "Relay", "REPLY_PREFIX", "reply_topic"]

#: Names of CoS reply topics: ``_reply.<call id>``; publishing to one answers that call.
REPLY_PREFIX = "_reply."

_encode = msgspec.json.Encoder().encode

log = logging.getLogger("coagent.gateway")


class Relay(Actor):
    """A session of an agent type served elsewhere: forwards each message and waits."""

    __slots__ = ("hosted", "type_name")

    #: A durable relay acknowledges each tell in its own write: its handling is a send to
    #: another process, which a re-run of a batch would repeat (a CoS client cannot tell).
    group_apply = False

    def __init__(self, hosted: Hosted, type_name: str) -> None:
        super().__init__()
        self.hosted = hosted
        self.type_name = type_name

    async def started(self) -> None:
        address = self.address
        assert address is not None
        self.hosted.session_started(self.type_name, address)

    async def stopped(self) -> None:
        address = self.address
        if address is not None:
            self.hosted.session_stopped(self.type_name, address)

    @handler
    async def relay(self, msg: GenericMessage, ctx: Context) -> Any:
        return await self.hosted.relay(self.type_name, ctx.address, msg.raw, ctx)

    # A durable type's relay on a gateway with a store: its sessions keep no state here (the
    # serving process stores theirs); the gateway's store holds the tells until that
    # process has stored them (see Hosted.open).
    def snapshot(self) -> None:
        return None

    def restore(self, data: Any) -> None:
        return None


class Hosted:
    """The agent types that outside processes serve through this gateway.

    Args:
        runtime: the gateway's node; each hosted type is registered on it.
        grace: seconds a CoS session waits for its subscriber to come back before it ends.
        idle_timeout: seconds a hosted session may stay idle here before it is passivated.
    """

    def __init__(self, runtime: Any, *, grace: float = 10.0, idle_timeout: float = 600.0,
                 durable_cos: frozenset[str] = frozenset()) -> None:
        self.runtime = runtime
        self.grace = grace
        #: CoS-served types whose tells the gateway stores and delivers at least once.
        self.durable_cos = durable_cos
        self.idle_timeout = idle_timeout
        self.providers: dict[str, Provider] = {}   # by agent type
        self.by_id: dict[str, Provider] = {}
        self.calls: dict[str, Waiter] = {}        # by call id / reply topic
        self._counter = 0
        self._prefix = secrets.token_hex(6)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ providers

    async def open(self, dialect: Dialect, names: list[str], descriptions: dict[str, str],
                   caller: str = "", node: str = "", durable: set[str] | None = None) -> Provider:
        """Register ``names`` on the node, served by a new provider.

        A type already served by another process is ``AgentAlreadyRegistered``, unless
        that provider has the same (non-empty) ``node`` name: a process that reconnects
        before its old stream was noticed dead replaces it. ``durable``: the types whose
        process stores each tell before it acknowledges it (see :meth:`tell_stored`).

        When the gateway's node has a store (``coagent gateway --store``, or JetStream when
        it bridges NATS), a durable type's relay is durable there too: a tell from any
        sender (an HTTP client, the gateway's own agents, a NATS node) is in the gateway's
        store when it returns, and leaves it only once the serving process has stored it,
        so a serving process killed in between, or absent, loses nothing: the tell is
        delivered when a process serves the type again.
        """
        if not names:
            raise AgentNotFound("register at least one agent type")
        for name in names:
            validate_name(name)
            if name.startswith(REPLY_PREFIX.rstrip(".")):
                raise AgentAlreadyRegistered(f"agent name {name!r} is reserved for reply topics")
            current = self.providers.get(name)
            if current is not None and not (node and current.node == node and current.caller == caller):
                raise AgentAlreadyRegistered(f"agent {name!r} is already served by another process")
            if current is None and any(s.name == name for s in self.runtime.specs()):
                raise AgentAlreadyRegistered(f"agent {name!r} is already registered on the gateway")
        for name in names:
            current = self.providers.get(name)
            if current is not None:
                await self.close(current)
        provider = Provider(dialect, list(names), caller, node, frozenset(durable or ()))
        stores = getattr(self.runtime, "durable", None) is not None
        if provider.durable and not stores and dialect == "cos":
            raise StoreRequired(
                f"{', '.join(sorted(provider.durable))} served over CoS cannot be durable on a gateway"
                " without a store: its tells would live only in this process (coagent gateway --store)")
        if provider.durable and not stores:
            log.warning("durable %s served over HTTP, but this gateway has no store: a tell from"
                        " its own agents or a NATS node returns before the serving process stored"
                        " it (start the gateway with --store)", ", ".join(sorted(provider.durable)))
        done: list[str] = []
        try:
            for name in names:
                spec = AgentSpec(name, new(Relay, self, name), descriptions.get(name, ""),
                                 idle_timeout=self.idle_timeout, restart="transient",
                                 durable=stores and name in provider.durable)
                # Known before registering: a durable type's stored tells are replayed by it.
                self.providers[name] = provider
                await self.runtime.register(spec)
                done.append(name)
        except BaseException:
            for name in names:
                if self.providers.get(name) is provider:
                    del self.providers[name]
            if done:
                await self.runtime.deregister(*done)
            raise
        self.by_id[provider.id] = provider
        return provider

    async def close(self, provider: Provider) -> None:
        """The provider's stream ended: its calls fail at once, its types go away."""
        if provider.closed:
            return
        provider.closed = True
        provider.outbox.close()
        self.by_id.pop(provider.id, None)
        error = AgentDisconnected(f"the process serving {', '.join(provider.names)} went away")
        for call_id, waiter in list(provider.waiters.items()):
            self.calls.pop(call_id, None)
            waiter.fail(error)
        provider.waiters.clear()
        for session in provider.sessions.values():
            session.outbox.close()
            if session.grace is not None:
                session.grace.cancel()
        provider.sessions.clear()
        names = [n for n in provider.names if self.providers.get(n) is provider]
        for name in names:
            del self.providers[name]
        registered = {s.name for s in self.runtime.specs()}
        gone = [n for n in names if n in registered]
        if gone:
            try:
                await self.runtime.deregister(*gone)
            except AgentNotFound:
                pass  # the node is stopping and took them already

    async def close_all(self) -> None:
        for provider in list(self.by_id.values()):
            await self.close(provider)

    def provider_of(self, type_name: str) -> Provider:
        provider = self.providers.get(type_name)
        if provider is None or provider.closed:
            raise AgentDisconnected(f"the process serving {type_name!r} went away")
        return provider

    # ------------------------------------------------------------ sessions (CoS)

    def session_started(self, type_name: str, address: Address) -> None:
        provider = self.providers.get(type_name)
        if provider is None or provider.dialect != "cos":
            return
        session = provider.sessions.get(address)
        if session is None:
            session = provider.sessions[address] = CosSession(address)
            self._start_grace(provider, session)  # it must be subscribed to within the grace
        created = Created(CosAddress(address.name, address.session))
        msg = CosMessage(CosHeader("AgentCreated"), content=_encode(created).decode())
        provider.outbox.put(b"data: %s\n\n" % _encode(msg))

    def session_stopped(self, type_name: str, address: Address) -> None:
        provider = self.providers.get(type_name)
        if provider is None or provider.dialect != "cos":
            return
        session = provider.sessions.pop(address, None)
        if session is None:
            return
        session.outbox.close()
        if session.grace is not None:
            session.grace.cancel()
        deleted = Created(CosAddress(address.name, address.session))
        msg = CosMessage(CosHeader("AgentDeleted"), content=_encode(deleted).decode())
        provider.outbox.put(b"data: %s\n\n" % _encode(msg))

    def cos_session(self, address: Address, caller: str) -> tuple[Provider, CosSession]:
        provider = self.providers.get(address.name)
        session = provider.sessions.get(address) if provider is not None else None
        if provider is None or session is None or provider.caller != caller:
            raise AgentNotFound(f"no CoS session {address} is waiting for a subscriber",
                                address=str(address))
        return provider, session

    def subscribed(self, session: CosSession) -> int:
        """A subscriber connected; returns its generation (a later one replaces it)."""
        if session.grace is not None:
            session.grace.cancel()
            session.grace = None
        old, session.task = session.task, asyncio.current_task()
        if old is not None and not old.done():
            old.cancel()  # the previous subscriber's stream ends: one reader per mailbox
        unacked = session.unacked
        if unacked is not None and not session.outbox.holds(unacked):
            session.outbox.unget(unacked)  # the previous subscriber may have died handling it
        session.generation += 1
        session.subscribed = True
        return session.generation

    def unsubscribed(self, provider: Provider, session: CosSession, generation: int) -> None:
        if session.generation != generation or provider.closed:
            return
        session.subscribed = False
        self._start_grace(provider, session)

    def _start_grace(self, provider: Provider, session: CosSession) -> None:
        loop = asyncio.get_running_loop()
        session.grace = loop.call_later(self.grace, self._grace_over, provider, session)

    def _grace_over(self, provider: Provider, session: CosSession) -> None:
        session.grace = None
        if session.subscribed or provider.sessions.get(session.address) is not session:
            return
        error = AgentDisconnected(f"no subscriber served {session.address} within {self.grace:g}s")
        for call_id, waiter in list(provider.waiters.items()):
            if waiter.session == session.address.session:
                provider.waiters.pop(call_id, None)
                self.calls.pop(call_id, None)
                waiter.fail(error)
        task = asyncio.ensure_future(self._end_session(session.address))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _end_session(self, address: Address) -> None:
        try:
            await self.runtime.passivate(address)
        except CoagentError:
            pass  # the type is gone already

    # ------------------------------------------------------------ calls

    def _new_call(self, provider: Provider, session: str, streaming: bool) -> tuple[str, Waiter]:
        self._counter += 1
        call_id = f"{self._prefix}{self._counter:x}{secrets.token_hex(4)}"
        waiter = Waiter(provider, session, streaming)
        provider.waiters[call_id] = waiter
        self.calls[call_id] = waiter
        return call_id, waiter

    def _forget(self, call_id: str) -> Waiter | None:
        waiter = self.calls.pop(call_id, None)
        if waiter is not None:
            waiter.provider.waiters.pop(call_id, None)
        return waiter

    def waiter(self, call_id: str, caller: str) -> Waiter | None:
        """The call ``call_id`` if it is in flight and ``caller`` serves it."""
        waiter = self.calls.get(call_id)
        if waiter is None or waiter.provider.caller != caller:
            return None
        return waiter

    def finish(self, call_id: str) -> None:
        self._forget(call_id)

    def stored_here(self, type_name: str) -> bool:
        """Whether the gateway's own store keeps the tells of ``type_name`` (its relay is durable)."""
        durable = getattr(self.runtime, "durable", None)
        return durable is not None and durable.handles(type_name)

    async def tell_stored(self, address: Address, raw: RawMessage, timeout: float) -> bool:
        """Tell a durable type served over HTTP; returns once its process stored it (it
        answers the delivery's call id after the write). ``False``: not such a type, or one
        whose tells the gateway's own store keeps (send it to the node); nothing was sent."""
        provider = self.providers.get(address.name)
        if provider is None or address.name not in provider.durable or self.stored_here(address.name):
            return False
        if provider.closed:
            raise AgentDisconnected(f"the process serving {address.name!r} went away")
        await self._tell_stored(provider, address, raw, timeout, None)
        return True

    async def _tell_stored(self, provider: Provider, address: Address, raw: RawMessage,
                           timeout: float, sender: Address | None) -> None:
        """Deliver a tell with a call id and wait for the process's answer: it is stored there."""
        if timeout <= 0:
            raise DeadlineExceeded(f"the deadline of a tell to {address} passed before it was sent",
                                   address=str(address))
        call_id, waiter = self._new_call(provider, address.session, False)
        assert waiter.fut is not None
        headers = {k: v for k, v in raw.header.items() if k not in ("type", "content_type")}
        delivery = Delivery(call_id, "tell", address.name, address.session, raw.header.get("type", ""),
                            json_content(raw), round(timeout, 3), headers,
                            str(sender) if sender else "")
        if _obs.tracing:
            delivery.traceparent, delivery.tracestate = _obs.hooks.w3c_fields()
        try:
            provider.push(b"event: deliver\ndata: %s\n\n" % _encode(delivery))
            await asyncio.wait_for(asyncio.shield(waiter.fut), timeout)
        except TimeoutError:
            raise DeadlineExceeded(
                f"the process serving {address.name!r} did not store the tell within {timeout:g}s",
                address=str(address)) from None
        finally:
            self._forget(call_id)

    async def _tell_acked(self, provider: Provider, address: Address, raw: RawMessage,
                          timeout: float) -> None:
        """A durable tell to a CoS session: sent with a reply topic, done once the client
        replies to it (the original's clients answer every message that has one, after
        handling it). A subscriber that goes away first gets it again when one subscribes."""
        if timeout <= 0:
            raise DeadlineExceeded(f"the deadline of a tell to {address} passed before it was sent",
                                   address=str(address))
        session = provider.sessions.get(address)
        if session is None:
            raise AgentDisconnected(f"the CoS session {address} has ended")
        call_id, waiter = self._new_call(provider, address.session, False)
        assert waiter.fut is not None
        event = b"data: %s\n\n" % raw_to_cos_json(raw, CosAddress(REPLY_PREFIX + call_id))
        try:
            if not session.outbox.put(event):
                raise MailboxFull(f"the CoS session {address} has {SESSION_QUEUE} messages unread")
            session.unacked = event
            await asyncio.wait_for(asyncio.shield(waiter.fut), timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"the CoS client serving {address} did not answer the tell within"
                                   f" {timeout:g}s", address=str(address)) from None
        finally:
            session.unacked = None
            self._forget(call_id)

    async def relay(self, type_name: str, address: Address, raw: RawMessage, ctx: Context) -> Any:
        """Forward one message of session ``address`` and return what comes back."""
        provider = self.provider_of(type_name)
        if not ctx.expects_reply:
            if type_name in provider.durable:
                # Handled once its process has stored it (a CoS client: handled it), and only
                # then is the relay's own stored copy acknowledged.
                if provider.dialect == "cos":
                    await self._tell_acked(provider, address, raw, ctx.remaining() or 0.0)
                else:
                    await self._tell_stored(provider, address, raw, ctx.remaining() or 0.0, ctx.sender)
                return None
            self._send(provider, address, raw, ctx, "tell", "")
            return None
        streaming = ctx.streaming
        call_id, waiter = self._new_call(provider, address.session, streaming)
        try:
            self._send(provider, address, raw, ctx, "stream" if streaming else "ask", call_id)
        except BaseException:
            self._forget(call_id)
            raise
        if waiter.fut is not None:
            try:
                reply = await waiter.fut
            except asyncio.CancelledError:
                self._cancel(provider, call_id)
                raise
            finally:
                self._forget(call_id)
            if reply is None or reply.header.get("type") == "StopIteration":
                return None
            return GenericMessage(raw=reply) if ctx.from_wire else _typed(reply)
        return self._items(provider, call_id, waiter, ctx.from_wire)

    async def _items(self, provider: Provider, call_id: str, waiter: Waiter,
                     raw: bool) -> AsyncIterator[Any]:
        chan = waiter.chan
        assert chan is not None
        finished = False
        try:
            while True:
                try:
                    item = await chan.get()
                except StopAsyncIteration:
                    finished = True
                    return
                yield GenericMessage(raw=item) if raw else _typed(item)
        finally:
            self._forget(call_id)
            if not finished and not provider.closed:
                self._cancel(provider, call_id)

    def _cancel(self, provider: Provider, call_id: str) -> None:
        if provider.dialect == "v1" and not provider.closed:
            provider.outbox.put(b'event: cancel\ndata: {"call":"%s"}\n\n' % call_id.encode())

    def _send(self, provider: Provider, address: Address, raw: RawMessage, ctx: Context,
              kind: str, call_id: str) -> None:
        timeout = ctx.remaining() or 0.0
        if provider.dialect == "v1":
            headers = {k: v for k, v in raw.header.items() if k not in ("type", "content_type")}
            sender = ctx.sender
            delivery = Delivery(
                call_id or "", kind, address.name, address.session, raw.header.get("type", ""),
                json_content(raw), round(timeout, 3), headers, str(sender) if sender else "",
            )
            if _obs.tracing:  # the relay's span is the served handler's parent
                delivery.traceparent, delivery.tracestate = _obs.hooks.w3c_fields()
            provider.push(b"event: deliver\ndata: %s\n\n" % _encode(delivery))
            return
        session = provider.sessions.get(address)
        if session is None:
            raise AgentDisconnected(f"the CoS session {address} has ended")
        out = raw_to_cos_json(raw, CosAddress(REPLY_PREFIX + call_id) if call_id else None)
        if not session.outbox.put(b"data: %s\n\n" % out):
            raise MailboxFull(f"the CoS session {address} has {SESSION_QUEUE} messages unread")


def _typed(raw: RawMessage) -> Any:
    """The reply as its class when this process defines its type (an in-process caller
    then gets what a local agent would give it), else in its raw form."""
    cls = lookup_message_type(raw.header.get("type", ""))
    if cls is None:
        return GenericMessage(raw=raw)
    try:
        return cls.decode_content(raw.content)
    except CoagentError:
        return GenericMessage(raw=raw)


def reply_topic(name: str) -> str | None:
    """The call id of a CoS reply topic name, or ``None`` if ``name`` is not one."""
    return name[len(REPLY_PREFIX):] if name.startswith(REPLY_PREFIX) else None
