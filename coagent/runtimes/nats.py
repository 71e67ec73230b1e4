"""``NATSRuntime``: the same actors across processes and machines, over NATS.

::

    async with NATSRuntime.from_servers("nats://localhost:4222") as runtime:
        await runtime.register(translator)
        await idle_loop()

A call to an actor that lives on this node never touches the network; a call to
one elsewhere goes over NATS (see :mod:`coagent.transport.subjects` for the
subjects and :mod:`coagent.transport.wire` for the headers). A session lives on
exactly one node: the first message to a new session is load-balanced over the
nodes serving its agent type (a queue group), and the node that receives it claims
the session in a JetStream key-value bucket before serving it. Callers remember
each session's owner and talk to it directly afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import re
import secrets
import socket
from collections import OrderedDict, deque
from typing import Any

import msgspec

from coagent.actors.address import Address, validate_session
from coagent.actors.cell import Cell
from coagent.actors.envelope import (
    ASK,
    STREAM,
    TELL,
    Envelope,
    ExternalReply,
    ReplyChannel,
    ReplyStream,
)
from coagent.actors.message import RawMessage, lookup_message_type
from coagent.errors import (
    AgentNotFound,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    MessageDecodeError,
    MessageTooLarge,
    RuntimeNotStarted,
    TransportError,
    UnknownMessage,
)
from coagent.runtimes.node import DEFAULT_TIMEOUT, Node, _as_address, _under
from coagent.supervision.spec import AgentSpec
from coagent.supervision.tree import NodeTree
from coagent.transport.claims import ClaimStore
from coagent.transport.subjects import Subjects, validate_token
from coagent.transport.wire import KIND_ASK, KIND_STREAM, KIND_TELL, decode_error, encode_error

__all__ = ["NATSRuntime", "AgentInfo"]

log = logging.getLogger("coagent.nats")

_RESERVED_HEADERS = frozenset(
    ("type", "kind", "session", "timeout", "sender", "target", "owner", "error", "seq", "end")
)
_MAX_TIMEOUT = 24 * 3600.0
_OWNER_CACHE_SIZE = 200_000
#: Calls with less time than this left get their own timer; longer ones are swept.
_PRECISE_DEADLINE = 2.0
_SWEEP_INTERVAL = 0.05


class AgentInfo(msgspec.Struct):
    """An agent type as announced by one node (``coagent agents``)."""

    name: str
    description: str
    node: str
    kind: str = ""


def _default_node_name() -> str:
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


class _RemoteReply(ExternalReply):
    """Stands in for the caller's future when the caller is on another node."""

    __slots__ = ("_done", "_out", "owner", "reply", "rt")

    def __init__(self, rt: NATSRuntime, reply: str | None, owner: bool) -> None:
        self.rt = rt
        self.reply = reply
        self.owner = owner  # tell the caller who serves the session (it came via the queue group)
        self._done = False
        self._out: tuple[str, bytes, dict[str, str]] | None = None

    def done(self) -> bool:
        return self._done

    def set_result(self, raw: RawMessage | None) -> None:
        # Prepared here, sent by flush() from the actor's task (no extra wake-up).
        if self._done:
            return
        self._done = True
        reply = self.reply
        if reply is None:
            return
        self.rt._calls.pop(reply, None)
        headers = {"owner": self.rt.node_name} if self.owner else {}
        if raw is None:
            self._out = (reply, b"", headers)
        else:
            headers["type"] = raw.header.get("type", "")
            self._out = (reply, raw.content, headers)

    async def flush(self) -> None:
        out, self._out = self._out, None
        if out is not None and not await self.rt._publish_now(*out):
            self.rt._reply_error(self.reply, MessageTooLarge(
                f"the reply ({len(out[1])} bytes) is larger than the server allows",
            ))

    def set_exception(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done = True
        if self.reply is not None:
            self.rt._calls.pop(self.reply, None)
        self.rt._reply_error(self.reply, exc)

    def abandon(self) -> None:
        self._done = True


class _RemoteStream:
    """Stands in for the caller's ``ReplyChannel`` when the caller is on another node."""

    __slots__ = ("closed", "owner", "reply", "rt", "seq")

    def __init__(self, rt: NATSRuntime, reply: str | None, owner: bool) -> None:
        self.rt = rt
        self.reply = reply
        self.owner = owner
        self.closed = False
        self.seq = 0

    def _headers(self) -> dict[str, str]:
        self.seq += 1
        headers = {"seq": str(self.seq)}
        if self.owner and self.seq == 1:
            headers["owner"] = self.rt.node_name
        return headers

    async def send(self, raw: RawMessage) -> bool:
        if self.closed:
            return False
        if self.reply is not None:
            headers = self._headers()
            headers["type"] = raw.header.get("type", "")
            if not await self.rt._publish_now(self.reply, raw.content, headers):
                self.seq -= 1
                self.close(MessageTooLarge(
                    f"a streamed item ({len(raw.content)} bytes) is larger than the server allows",
                ))
                return False
        return not self.closed

    def close(self, error: BaseException | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        if self.reply is None:
            if error is not None:
                log.warning("stream without a reply subject failed: %s", error)
            return
        self.rt._calls.pop(self.reply, None)
        headers = self._headers()
        if error is None:
            headers["end"] = "1"
            self.rt._publish(self.reply, b"", headers)
        else:
            code, body = encode_error(error, debug=self.rt.debug)
            headers["error"] = code
            self.rt._publish(self.reply, body, headers)

    def abandon(self) -> None:
        self.closed = True


class _CallerStream:
    """The caller's side of a remote stream: ordered chunks into a ``ReplyChannel``."""

    __slots__ = ("chan", "first", "seq", "typed")

    def __init__(self, chan: ReplyChannel, first: asyncio.Future[str], typed: bool) -> None:
        self.chan = chan
        self.first = first
        self.seq = 0
        self.typed = typed


class NATSRuntime(Node):
    """A node connected to NATS; a drop-in for ``LocalRuntime``.

    Args:
        servers: one URL or a list (``nats://user:pass@host:4222``, ``tls://...``).
        name: this node's name, unique in the cluster (default: host, pid and a random suffix).
        prefix: the subject prefix shared by the cluster (default ``coagent``).
        default_timeout: seconds a call may take when the caller gives none.
        claim_ttl: seconds a claim survives without its owner refreshing it.
        debug: send server tracebacks with error replies.
        announce: answer discovery (``coagent tree``/``agents``) and own sessions; the CLI's
            client connections pass ``False`` so that they do not show up as nodes.
        **connect_options: passed to ``nats.connect`` (``user_credentials``, ``nkeys_seed``,
            ``tls``, ``token``, ``max_reconnect_attempts``, ``reconnect_time_wait``, ...).
    """

    runtime_kind = "nats"

    def __init__(
        self,
        servers: str | list[str] = "nats://localhost:4222",
        *,
        name: str | None = None,
        prefix: str = "coagent",
        default_timeout: float = DEFAULT_TIMEOUT,
        claim_ttl: float = 3600.0,
        debug: bool = False,
        announce: bool = True,
        connect_deadline: float = 5.0,
        **connect_options: Any,
    ) -> None:
        node_name = validate_token(name, "node name") if name else _default_node_name()
        super().__init__(name=node_name, default_timeout=default_timeout)
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.subjects = Subjects(prefix, node_name)
        self.claim_ttl = claim_ttl
        self.debug = debug
        self.announce = announce
        self.connect_deadline = connect_deadline
        self.connect_options = connect_options
        self.nc: Any = None
        self.claims: ClaimStore | None = None
        self._agent_subs: dict[str, Any] = {}
        self._subs: list[Any] = []
        #: Calls from other nodes in flight here, by their reply subject.
        self._calls: dict[str, tuple[Cell, Envelope]] = {}
        #: Calls of ours in flight elsewhere, by the last token of their reply subject.
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._long_deadlines: dict[str, tuple[float, asyncio.Future[Any]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._subject_cache: dict[str, Address] = {}
        #: Seconds between sweeps for remote calls past their deadline.
        self.deadline_sweep = 0.25
        self._claiming: dict[str, asyncio.Future[str]] = {}
        self._claimed: set[str] = set()
        self._owners: OrderedDict[Address, str] = OrderedDict()
        self._type_cache: dict[str, str] = {}
        self._streams: dict[str, _CallerStream] = {}
        #: (subject, body, headers, reply subject) sent in order by one task; for replies
        #: made where no coroutine can await (error replies, stream ends, cancels).
        self._outbox: deque[tuple[str, bytes, dict[str, str] | None, str]] = deque()
        self._outbox_wakeup = asyncio.Event()
        self._outbox_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._call_ids = itertools.count(1)
        self._call_prefix = f"{node_name}-{secrets.token_hex(3)}-"
        self._stream_inbox = ""
        self._agent_prefix = f"{prefix}.a."
        self._last_error: BaseException | None = None
        self._discovery: tuple[float, list[tuple[str, str]]] | None = None
        #: Seconds a cluster-wide discovery result is reused (``ctx.discover``).
        self.discovery_ttl = 1.0

    @property
    def node_name(self) -> str:
        return self.name

    @classmethod
    def from_servers(cls, servers: str | list[str] = "nats://localhost:4222", **options: Any) -> NATSRuntime:
        """The seed's constructor: ``NATSRuntime.from_servers("nats://localhost:4222")``."""
        return cls(servers, **options)

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        import nats
        from nats.errors import NoServersError

        await super().start()
        options = {
            "servers": self.servers,
            "name": f"coagent:{self.name}",
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "connect_timeout": 2,
            "allow_reconnect": True,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            **self.connect_options,
        }
        from nats.errors import Error as NatsError

        self._last_error = None
        try:
            # nats-py retries the first connection as often as later reconnections (forever
            # for a node): bound it, so that a missing server is one clear error.
            async with asyncio.timeout(self.connect_deadline):
                self.nc = await nats.connect(**options)
        except (NoServersError, NatsError, OSError, ValueError, TimeoutError) as exc:
            self._started = False
            reason = str(self._last_error or "") or str(exc) or f"no answer within {self.connect_deadline:g}s"
            raise TransportError(f"cannot connect to NATS at {', '.join(self.servers)}: {reason}") from None
        self._outbox_task = asyncio.get_running_loop().create_task(self._run_outbox())
        if self.announce and await self.is_alive(self.name):
            self._started = False
            self._outbox_task.cancel()
            await self.nc.close()
            self.nc = None
            raise CoagentError(f"a node named {self.name!r} is already running")
        nc = self.nc
        self._stream_inbox = nc.new_inbox()
        self._subs = [await nc.subscribe(f"{self._stream_inbox}.*", cb=self._on_reply)]
        if self.announce:
            self._subs += [
                await nc.subscribe(self.subjects.node_wildcard(), cb=self._on_node_msg),
                await nc.subscribe(self.subjects.ping(self.name), cb=self._on_ping),
                await nc.subscribe(self.subjects.sys("ping"), cb=self._on_ping),
                await nc.subscribe(self.subjects.sys("agents"), cb=self._on_agents),
                await nc.subscribe(self.subjects.sys("tree"), cb=self._on_tree),
                await nc.subscribe(self.subjects.sys("cancel"), cb=self._on_cancel),
            ]
        await nc.flush()
        if self.announce:
            await self._open_claims()
            self._spawn(self._refresh_claims_forever())
            self._spawn(self._expire_calls_forever())

    async def _open_claims(self) -> None:
        try:
            js = self.nc.jetstream(timeout=2)
            self.claims = await ClaimStore.open(
                js, f"{self.subjects.prefix}_sessions", self.name, self.is_alive, ttl=self.claim_ttl,
            )
        except Exception as exc:
            self.claims = None
            log.warning(
                "JetStream is not available (%s): sessions are not claimed cluster-wide;"
                " run nats-server with -js for exactly-one-owner sessions", exc,
            )

    async def stop(self, timeout: float | None = None) -> None:
        """Stop taking sessions, stop local actors, release claims, close the connection."""
        if self.nc is None:
            await super().stop(timeout)
            return
        # First stop looking alive and taking sessions: from now on other nodes take this
        # node's sessions over on their next message instead of forwarding them here.
        liveness = [sub for sub in self._subs if sub.subject == self.subjects.ping(self.name)]
        for sub in list(self._agent_subs.values()) + liveness:
            await _quietly(sub.unsubscribe())
        self._agent_subs.clear()
        await _quietly(self.nc.flush(timeout=1))
        await super().stop(timeout)
        if self.claims is not None and not self.nc.is_closed:
            await self.claims.release(sorted(self._claimed))
        for task in list(self._background):
            task.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for state in list(self._streams.values()):
            state.chan.close(TransportError("the runtime stopped"))
        self._streams.clear()
        await self._drain_outbox()
        if self._outbox_task is not None:
            self._outbox_task.cancel()
        nc, self.nc = self.nc, None
        await _quietly(nc.flush(timeout=1))
        await _quietly(nc.close())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = exc  # shown if the first connection fails (e.g. authorization)
        log.debug("nats: %s", exc)

    async def _on_disconnected(self) -> None:
        if self._started:
            log.warning("node %s lost its NATS connection; reconnecting", self.name)

    async def _on_reconnected(self) -> None:
        log.warning("node %s reconnected to NATS", self.name)
        if not self.announce:
            return
        self._spawn(self._reopen_claims())

    async def _reopen_claims(self) -> None:
        # The server may have come back with an empty store: find or create the bucket again,
        # then re-assert the claims of the sessions alive here.
        await self._open_claims()
        await self._refresh_claims_once()

    # ---------------------------------------------------------- registration

    async def register(self, spec: AgentSpec) -> None:
        await super().register(spec)
        try:
            sub = await self.nc.subscribe(
                self.subjects.agent(spec.name), queue="nodes", cb=self._on_agent_msg,
            )
            await self.nc.flush()  # the subscription is live before anyone is told it exists
        except BaseException:
            await super().deregister(spec.name)
            raise
        self._agent_subs[spec.name] = sub

    async def deregister(self, *names: str) -> None:
        for name in names:
            sub = self._agent_subs.pop(name, None)
            if sub is not None:
                await _quietly(sub.unsubscribe())
        await super().deregister(*names)
        # Its sessions are gone from here: let other nodes serving the type claim them.
        prefixes = tuple(f"{name}." for name in names)
        released = [key for key in self._claimed if key.startswith(prefixes)]
        self._claimed.difference_update(released)
        if self.claims is not None and released:
            await self.claims.release(released)

    # ------------------------------------------------------- outgoing bytes

    def _publish(self, subject: str, body: bytes, headers: dict[str, str] | None,
                 reply: str = "") -> None:
        self._outbox.append((subject, body, headers, reply))
        self._outbox_wakeup.set()

    async def _run_outbox(self) -> None:
        outbox = self._outbox
        wakeup = self._outbox_wakeup
        while True:
            await wakeup.wait()
            wakeup.clear()
            while outbox:
                await self._publish_one(outbox.popleft())

    async def _publish_one(self, item: tuple[str, bytes, dict[str, str] | None, str]) -> None:
        nc = self.nc
        if nc is None:
            return
        subject, body, headers, reply = item
        try:
            await nc.publish(subject, body, reply=reply, headers=headers)
        except Exception as exc:
            log.warning("could not publish to %s: %s", item[0], exc)

    async def _drain_outbox(self) -> None:
        while self._outbox:
            await self._publish_one(self._outbox.popleft())

    def _reply_error(self, reply: str | None, exc: BaseException, **extra: str) -> None:
        if reply is None:
            log.warning("dropped a message without a reply subject: %s", exc)
            return
        code, body = encode_error(exc, debug=self.debug)
        self._publish(reply, body, {"error": code, "owner": self.name, **extra})

    # ------------------------------------------------------ serving requests

    async def _on_agent_msg(self, msg: Any) -> None:
        headers = msg.headers or {}
        try:
            type_name = msg.subject[len(self._agent_prefix):]
            session = validate_session(headers.get("session", ""))
            address = Address(headers.get("target") or type_name, session)
        except CoagentError as exc:
            self._reply_error(msg.reply, exc)
            return
        self._accept(msg, address, headers)

    async def _on_node_msg(self, msg: Any) -> None:
        subject = msg.subject
        address = self._subject_cache.get(subject)
        if address is None:
            try:
                address = self.subjects.parse_node_subject(subject)
            except CoagentError as exc:
                self._reply_error(msg.reply, exc)
                return
            if len(self._subject_cache) > 100_000:
                self._subject_cache.clear()
            self._subject_cache[subject] = address
        self._accept(msg, address, msg.headers or {})

    def _accept(self, msg: Any, address: Address, headers: dict[str, str]) -> None:
        type_name = headers.get("type")
        if not type_name:
            self._reply_error(msg.reply, MessageDecodeError("missing 'type' header"))
            return
        try:
            timeout = float(headers.get("timeout") or self.default_timeout)
        except ValueError:
            timeout = self.default_timeout
        if not math.isfinite(timeout):
            timeout = self.default_timeout if math.isnan(timeout) else _MAX_TIMEOUT
        timeout = min(max(timeout, 0.0), _MAX_TIMEOUT)
        raw = RawMessage(header={"type": type_name}, content=msg.data)
        if len(headers) > 1:
            for key, value in headers.items():
                if key not in _RESERVED_HEADERS:
                    raw.header[key] = value
        cell = self._live_cell(address)
        if cell is not None:
            self._deliver(cell, raw, msg.reply, headers, timeout, "session" in headers)
        else:
            self._spawn(self._accept_new(msg, address, raw, headers, timeout))

    async def _accept_new(self, msg: Any, address: Address, raw: RawMessage,
                          headers: dict[str, str], timeout: float) -> None:
        type_name = self._type_of(address.name)
        if type_name is None:
            self._reply_error(msg.reply, AgentNotFound(
                f"no agent {address.name!r} on node {self.name}", address=str(address),
            ), retry="1")
            return
        try:
            async with asyncio.timeout(timeout):
                owner = await self._claim(type_name, address.session)
                if owner != self.name:
                    if headers.get("kind") == KIND_STREAM or not msg.reply:
                        # Forward with the caller's own reply subject: the owner streams to it.
                        self._publish(self.subjects.session(owner, address), msg.data, headers,
                                      reply=msg.reply or "")
                        return
                    if await self._relay(msg, address, headers, owner):
                        return
                    # The owner stopped serving between its liveness ping and the forward.
                    owner = await self._take_over(type_name, address.session, owner)
                    if owner != self.name:
                        self._reply_error(msg.reply, AgentNotFound(
                            f"the owner of {address} is unreachable", address=str(address),
                        ), retry="1")
                        return
                cell = await self._resolve(address)
        except TimeoutError:
            self._reply_error(msg.reply, DeadlineExceeded(f"{address} did not start in time"))
            return
        except CoagentError as exc:
            self._reply_error(msg.reply, exc)
            return
        except Exception as exc:
            log.exception("accepting a message for %s failed", address)
            self._reply_error(msg.reply, TransportError(f"{type(exc).__name__}: {exc}"))
            return
        self._deliver(cell, raw, msg.reply, headers, timeout, "session" in headers)

    async def _relay(self, msg: Any, address: Address, headers: dict[str, str], owner: str) -> bool:
        """Pass a request to the session's owner and its answer back; ``False`` if it is gone."""
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        try:
            reply = await self.nc.request(self.subjects.session(owner, address), msg.data,
                                          timeout=_MAX_TIMEOUT, headers=headers)
        except NoRespondersError:
            return False
        except NatsTimeout:
            return True  # the caller's own deadline has long passed
        self._publish(msg.reply, reply.data, reply.headers or None)
        return True

    def _deliver(self, cell: Cell, raw: RawMessage, reply: str | None, headers: dict[str, str],
                 timeout: float, via_queue: bool = False) -> None:
        loop = self._loop or asyncio.get_running_loop()
        deadline = loop.time() + timeout
        kind = headers.get("kind", KIND_ASK)
        sender = None
        sender_text = headers.get("sender")
        if sender_text:
            try:
                sender = Address.parse(sender_text)
            except InvalidAddress:
                sender = None
        sink: Any
        if kind == KIND_STREAM:
            sink = _RemoteStream(self, reply, via_queue)
            env = Envelope(raw, STREAM, sink, sender, deadline)
        elif kind == KIND_TELL:
            sink = None
            env = Envelope(raw, TELL, None, sender, deadline)
        else:
            sink = _RemoteReply(self, reply, via_queue)
            env = Envelope(raw, ASK, sink, sender, deadline)
        if sink is not None and reply:
            # In flight until answered: cancellable by the caller, expired by the sweeper.
            self._calls[reply] = (cell, env)
        try:
            accepted = cell.deliver_nowait(env)
        except CoagentError as exc:
            if sink is not None:
                env.fail(exc)
            else:
                self._reply_error(reply, exc)
            return
        if accepted:
            if kind == KIND_TELL and reply:
                self._publish(reply, b"", {"owner": self.name} if via_queue else None)
            return
        self._spawn(self._deliver_later(cell, env, reply, kind, deadline))

    async def _deliver_later(self, cell: Cell, env: Envelope, reply: str | None, kind: str,
                             deadline: float) -> None:
        try:
            await cell.deliver(env, deadline)
        except CoagentError as exc:
            if env.reply is not None:
                env.fail(exc)
            else:
                self._reply_error(reply, exc)
            return
        if kind == KIND_TELL and reply:
            self._publish(reply, b"", {"owner": self.name})

    async def _expire_calls_forever(self) -> None:
        """Fail and cancel remote calls whose caller's deadline has passed (one sweep for all)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.deadline_sweep)
            now = loop.time()
            expired = [
                (reply, cell, env) for reply, (cell, env) in list(self._calls.items())
                if env.deadline is not None and env.deadline <= now
            ]
            for reply, cell, env in expired:
                self._calls.pop(reply, None)
                env.fail(DeadlineExceeded(f"the deadline of a call to {cell.address} passed"))
                cell.cancel(env)

    async def _on_cancel(self, msg: Any) -> None:
        entry = self._calls.pop(msg.data.decode("utf-8", "replace"), None)
        if entry is not None:
            cell, env = entry
            cell.cancel(env)
            env.reply.abandon()

    async def _on_ping(self, msg: Any) -> None:
        if msg.reply:
            self._publish(msg.reply, self.name.encode(), None)

    async def _on_agents(self, msg: Any) -> None:
        if not msg.reply:
            return
        infos = [
            AgentInfo(name=spec.name, description=spec.description, node=self.name,
                      kind=getattr(spec.actor_class, "__name__", ""))
            for spec in self.specs()
        ]
        self._publish(msg.reply, msgspec.json.encode(infos), None)

    async def _on_tree(self, msg: Any) -> None:
        if msg.reply:
            self._publish(msg.reply, msgspec.json.encode(await self.tree()), None)

    # --------------------------------------------------------------- claims

    async def _claim(self, type_name: str, session: str) -> str:
        """The node that owns ``type_name``'s ``session`` (claiming it for this node if free)."""
        claims = self.claims
        if claims is None:
            return self.name
        key = f"{type_name}.{session}"
        pending = self._claiming.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # we were cancelled ourselves
                return await self._claim(type_name, session)  # the claimer was: claim again
        fut = asyncio.get_running_loop().create_future()
        self._claiming[key] = fut
        try:
            owner = await claims.claim(key)
        except asyncio.CancelledError:
            fut.cancel()  # waiters try again themselves
            raise
        except Exception as exc:
            fut.set_exception(TransportError(f"claiming {key} failed: {exc}"))
            fut.exception()  # retrieved: waiters re-raise it, nobody logs it
            raise TransportError(f"claiming session {key} failed: {exc}") from None
        finally:
            self._claiming.pop(key, None)
        if owner == self.name:
            self._claimed.add(key)
        fut.set_result(owner)
        return owner

    async def _take_over(self, type_name: str, session: str, dead: str) -> str:
        key = f"{type_name}.{session}"
        try:
            owner = await self.claims.take_over(key, dead) if self.claims is not None else self.name
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise TransportError(f"taking session {key} over failed: {exc}") from None
        if owner == self.name:
            self._claimed.add(key)
        return owner

    async def _refresh_claims_once(self) -> None:
        if self.claims is None:
            return
        keys = [f"{name}.{session}" for name, sup in self._types.items() for session in sup.sessions]
        lost = await self.claims.refresh(keys)
        for key in lost:
            log.warning("session %s is now owned by another node; stopping it here", key)
            name, _, session = key.rpartition(".")
            sup = self._types.get(name)
            if sup is not None:
                cell = sup.sessions.get(session)
                if cell is not None and cell.idle:
                    await sup.passivate(session)

    async def _refresh_claims_forever(self) -> None:
        while True:
            await asyncio.sleep(self.claim_ttl / 3)
            try:
                await self._refresh_claims_once()
            except Exception as exc:
                log.warning("refreshing claims failed: %s", exc)

    async def is_alive(self, node: str) -> bool:
        """Whether node ``node`` answers its liveness ping (no responders: it is gone)."""
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        try:
            await self.nc.request(self.subjects.ping(node), b"", timeout=1.0)
            return True
        except NoRespondersError:
            return False
        except NatsTimeout:
            return True  # slow, not gone: calls to it fail by their own deadlines

    # ----------------------------------------------------------------- calls

    async def _placement(self, address: Address, deadline: float) -> str | None:
        """For an address with no live cell here: ``None`` if this node is (now) its owner,
        else the owner node (``""``: unknown, ask the queue group)."""
        type_name = self._type_of(address.name)
        if type_name is None:
            return self._owners.get(address, "")
        try:
            async with asyncio.timeout_at(deadline):
                owner = await self._claim(type_name, address.session)
        except TimeoutError:
            raise DeadlineExceeded(f"claiming {address} did not finish in time") from None
        return None if owner == self.name else owner

    async def ask(self, address: Address | str, msg: Any, *, timeout: float | None = None,
                  sender: Address | None = None) -> Any:
        if address.__class__ is not Address:
            address = _as_address(address)
        loop = self._loop or asyncio.get_running_loop()
        limit = self.default_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        cell = self._live_cell(address)  # type: ignore[arg-type]
        if cell is not None:  # the fast path: never touches the network
            return await self._ask_cell(cell, address, msg, deadline, limit, sender)  # type: ignore[arg-type]
        owner = await self._placement(address, deadline)  # type: ignore[arg-type]
        if owner is None:
            cell = await self._resolve_within(address, deadline)  # type: ignore[arg-type]
            return await self._ask_cell(cell, address, msg, deadline, limit, sender)  # type: ignore[arg-type]
        typed = msg.__class__ is not RawMessage
        raw = msg.encode() if typed else msg
        reply = await self._request(address, raw, KIND_ASK, deadline, sender, owner,  # type: ignore[arg-type]
                                    timeout is not None)
        headers = reply.headers or {}
        type_name = headers.get("type")
        if not type_name:
            return None
        if not typed:
            return RawMessage(header={"type": type_name}, content=reply.data)
        return _decode_typed(type_name, reply.data)

    async def tell(self, address: Address | str, msg: Any, *, timeout: float | None = None,
                   sender: Address | None = None) -> None:
        if address.__class__ is not Address:
            address = _as_address(address)
        if self._live_cell(address) is not None:  # type: ignore[arg-type]
            return await super().tell(address, msg, timeout=timeout, sender=sender)
        loop = self._loop or asyncio.get_running_loop()
        deadline = loop.time() + (self.default_timeout if timeout is None else timeout)
        owner = await self._placement(address, deadline)  # type: ignore[arg-type]
        if owner is None:
            return await super().tell(address, msg, timeout=max(0.0, deadline - loop.time()), sender=sender)
        raw = msg if msg.__class__ is RawMessage else msg.encode()
        await self._request(address, raw, KIND_TELL, deadline, sender, owner,  # type: ignore[arg-type]
                            timeout is not None)

    def stream(self, address: Address | str, msg: Any, *, timeout: float | None = None,
               sender: Address | None = None) -> ReplyStream:
        address = _as_address(address)
        return ReplyStream(lambda: self._open_stream(address, msg, timeout, sender))

    async def _open_stream(self, address: Address, msg: Any, timeout: float | None,
                           sender: Address | None) -> tuple[ReplyChannel, Any, Any]:
        loop = self._loop or asyncio.get_running_loop()
        limit = self.default_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        owner = None if self._live_cell(address) is not None else await self._placement(address, deadline)
        if owner is None:
            return await self._open_local_stream(address, msg, max(0.0, deadline - loop.time()), sender)
        typed = msg.__class__ is not RawMessage
        raw = msg.encode() if typed else msg
        attempts = 0
        while True:
            attempts += 1
            call = self._new_call_id()
            chan = ReplyChannel()
            state = _CallerStream(chan, loop.create_future(), typed)
            self._streams[call] = state
            subject, headers = self._route(address, raw, KIND_STREAM, deadline, sender, owner,
                                           timeout is not None)
            reply_subject = f"{self._stream_inbox}.{call}"
            try:
                await self.nc.publish(subject, raw.content, reply=reply_subject, headers=headers)
            except BaseException as exc:
                self._streams.pop(call, None)
                raise _publish_error(exc) from None
            try:
                async with asyncio.timeout_at(deadline):
                    outcome = await state.first
            except TimeoutError:
                self._streams.pop(call, None)
                self._send_cancel(reply_subject)
                raise DeadlineExceeded(f"no reply from {address} within {limit:g}s") from None
            except asyncio.CancelledError:
                self._streams.pop(call, None)
                self._send_cancel(reply_subject)
                raise
            if outcome == "ok":
                break
            self._streams.pop(call, None)
            owner = self._after_no_responders(address, owner, attempts)

        def expire() -> None:
            if self._streams.pop(call, None) is not None:
                chan.close(DeadlineExceeded(f"stream from {address} did not finish within {limit:g}s"))
                self._send_cancel(reply_subject)

        def cancel() -> None:
            if self._streams.pop(call, None) is not None:
                chan.abandon()
                self._send_cancel(reply_subject)

        return chan, cancel, loop.call_at(deadline, expire)

    def _new_call_id(self) -> str:
        return f"{self._call_prefix}{next(self._call_ids)}"

    def _route(self, address: Address, raw: RawMessage, kind: str, deadline: float,
               sender: Address | None, owner: str, explicit: bool = True) -> tuple[str, dict[str, str]]:
        headers = {"type": raw.header.get("type", "")}
        if explicit:
            # Without it the serving node applies its own default timeout (fewer bytes and
            # less header parsing for the common case).
            loop = self._loop or asyncio.get_running_loop()
            headers["timeout"] = f"{max(0.0, deadline - loop.time()):.3f}"
        if kind != KIND_ASK:
            headers["kind"] = kind
        if len(raw.header) > 2:
            for key, value in raw.header.items():
                if key not in _RESERVED_HEADERS and key != "content_type":
                    headers[key] = value
        if sender is not None:
            headers["sender"] = str(sender)
        if owner:
            return self.subjects.session(owner, address), headers
        headers["session"] = address.session
        type_name = self._type_cache.get(address.name) or address.name
        if type_name != address.name:
            headers["target"] = address.name
        return self.subjects.agent(type_name), headers

    def _after_no_responders(self, address: Address, owner: str, attempts: int) -> str:
        """Pick the next route after "no responders"; raise when there is none left."""
        if attempts > 8:
            raise AgentNotFound(f"no node serves {address.name!r}", address=str(address))
        if owner:
            self._owners.pop(address, None)  # the owner is gone: back to the queue group
            return ""
        current = self._type_cache.get(address.name) or address.name
        if "." in current:
            self._type_cache[address.name] = current.rpartition(".")[0]  # maybe a supervisor's child
            return ""
        self._type_cache.pop(address.name, None)
        raise AgentNotFound(f"no node serves agent {address.name!r}", address=str(address))

    def _remember_owner(self, address: Address, owner: str | None) -> None:
        if not owner or owner == self.name:
            return
        owners = self._owners
        if owners.get(address) != owner:
            owners[address] = owner
            if len(owners) > _OWNER_CACHE_SIZE:
                owners.popitem(last=False)

    async def _request(self, address: Address, raw: RawMessage, kind: str, deadline: float,
                       sender: Address | None, owner: str, explicit: bool = True) -> Any:
        nc = self.nc
        if nc is None:
            raise RuntimeNotStarted(f"node {self.name} is not connected")
        loop = self._loop or asyncio.get_running_loop()
        attempts = 0
        retried_moved = False
        pending = self._pending
        while True:
            attempts += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeadlineExceeded(f"no reply from {address} before the deadline", address=str(address))
            token = self._new_call_id()
            reply_subject = f"{self._stream_inbox}.{token}"
            subject, headers = self._route(address, raw, kind, deadline, sender, owner,
                                           explicit or attempts > 1)
            fut = loop.create_future()
            pending[token] = fut
            if remaining < _PRECISE_DEADLINE:
                timer = loop.call_at(deadline, _expire_request, fut)
            else:
                # Long deadlines (the default) are swept, a few per second: a timer per call
                # costs heap operations on every request.
                timer = None
                self._long_deadlines[token] = (deadline, fut)
                if self._sweeper is None:
                    self._sweeper = loop.call_later(_SWEEP_INTERVAL, self._sweep_deadlines)
            try:
                await nc.publish(subject, raw.content, reply=reply_subject, headers=headers)
                reply = await fut
            except TimeoutError:
                self._send_cancel(reply_subject)
                raise DeadlineExceeded(
                    f"no reply from {address} within {remaining:.3g}s", address=str(address),
                ) from None
            except asyncio.CancelledError:
                self._send_cancel(reply_subject)
                raise
            except CoagentError:
                raise
            except Exception as exc:
                raise _publish_error(exc) from None
            finally:
                if timer is not None:
                    timer.cancel()
                else:
                    self._long_deadlines.pop(token, None)
                pending.pop(token, None)
            headers = reply.headers or {}
            if headers.get("Status") == "503":
                owner = self._after_no_responders(address, owner, attempts)
                continue
            error = headers.get("error")
            if error is not None:
                if headers.get("retry") and not retried_moved:
                    retried_moved = True  # the node no longer serves it: ask the queue group
                    self._owners.pop(address, None)
                    owner = ""
                    continue
                raise decode_error(error, reply.data)
            new_owner = headers.get("owner")
            if new_owner:
                self._remember_owner(address, new_owner)
            return reply

    def _sweep_deadlines(self) -> None:
        self._sweeper = None
        waiting = self._long_deadlines
        if not waiting:
            return
        loop = self._loop or asyncio.get_running_loop()
        now = loop.time()
        for token, (deadline, fut) in list(waiting.items()):
            if deadline <= now:
                del waiting[token]
                _expire_request(fut)
        if waiting:
            self._sweeper = loop.call_later(_SWEEP_INTERVAL, self._sweep_deadlines)

    def _send_cancel(self, reply_subject: str) -> None:
        """Tell whichever node serves the call (known by its reply subject) that we gave up."""
        self._publish(self.subjects.sys("cancel"), reply_subject.encode(), None)

    async def _publish_now(self, subject: str, body: bytes, headers: dict[str, str] | None) -> bool:
        """Publish from the calling task; ``False`` if the payload is too large to send."""
        from nats.errors import MaxPayloadError

        nc = self.nc
        if nc is None:
            return True
        try:
            await nc.publish(subject, body, headers=headers or None)
        except MaxPayloadError:
            return False
        except Exception as exc:
            log.warning("could not publish to %s: %s", subject, exc)
        return True

    async def _on_reply(self, msg: Any) -> None:
        call = msg.subject.rpartition(".")[2]
        fut = self._pending.get(call)
        if fut is not None:
            if not fut.done():
                fut.set_result(msg)
            return
        state = self._streams.get(call)
        if state is None:
            return
        headers = msg.headers or {}
        first = state.first
        if headers.get("Status") == "503":
            if not first.done():
                first.set_result("no-responders")
            return
        if not first.done():
            first.set_result("ok")
        try:
            seq = int(headers.get("seq", "0"))
        except ValueError:
            seq = -1
        chan = state.chan
        error = headers.get("error")
        if error is not None:
            # Errors are final, whatever their place: some are sent before any item (seq 0).
            try:
                exc = decode_error(error, msg.data)
            finally:
                self._streams.pop(call, None)
            chan.close(exc)
            return
        if seq != state.seq + 1:
            self._streams.pop(call, None)
            chan.close(TransportError(f"stream lost messages (expected #{state.seq + 1}, got #{seq})"))
            self._send_cancel(msg.subject)
            return
        state.seq = seq
        if headers.get("end"):
            self._streams.pop(call, None)
            chan.close()
            return
        type_name = headers.get("type", "")
        if state.typed:
            try:
                chan.put_nowait(_decode_typed(type_name, msg.data))
            except CoagentError as exc:
                self._streams.pop(call, None)
                chan.close(exc)
                self._send_cancel(msg.subject)
        else:
            chan.put_nowait(RawMessage(header={"type": type_name}, content=msg.data))

    # ------------------------------------------------------------ discovery

    async def _scatter(self, what: str, timeout: float) -> list[bytes]:
        nc = self.nc
        if nc is None:
            raise RuntimeNotStarted(f"node {self.name} is not connected")
        inbox = nc.new_inbox()
        replies: list[bytes] = []
        arrived = asyncio.Event()

        async def collect(msg: Any) -> None:
            replies.append(msg.data)
            arrived.set()

        sub = await nc.subscribe(inbox, cb=collect)
        try:
            await nc.publish(self.subjects.sys(what), b"", reply=inbox)
            await nc.flush()
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            quiet = min(0.25, timeout)
            while True:
                left = end - loop.time()
                if left <= 0:
                    break
                arrived.clear()
                try:
                    async with asyncio.timeout(quiet if replies else left):
                        await arrived.wait()
                except TimeoutError:
                    if replies:
                        break
        finally:
            await _quietly(sub.unsubscribe())
        return replies

    async def nodes(self, timeout: float = 1.0) -> list[str]:
        """Names of every node answering on this prefix."""
        return sorted(r.decode() for r in await self._scatter("ping", timeout))

    async def agents(self, timeout: float = 1.0) -> list[AgentInfo]:
        """Every agent type registered on any node (one entry per node serving it)."""
        out: list[AgentInfo] = []
        for blob in await self._scatter("agents", timeout):
            try:
                out.extend(msgspec.json.decode(blob, type=list[AgentInfo]))
            except msgspec.DecodeError:
                log.warning("a node sent an unreadable agent list")
        return sorted(out, key=lambda a: (a.name, a.node))

    async def discover(self, namespace: str = "") -> list[tuple[str, str]]:
        """Agent types under ``namespace`` on every node (cached for ``discovery_ttl`` seconds)."""
        loop = self._loop or asyncio.get_running_loop()
        cached = self._discovery
        if cached is None or loop.time() - cached[0] > self.discovery_ttl:
            infos = await self.agents(timeout=0.3)
            cached = self._discovery = (loop.time(), [(i.name, i.description) for i in infos])
        local = [(spec.name, spec.description) for spec in self.specs()]
        return _under(namespace, local + cached[1])

    async def cluster_tree(self, timeout: float = 1.0) -> list[NodeTree]:
        """The supervision tree of every node on this prefix."""
        trees = []
        for blob in await self._scatter("tree", timeout):
            try:
                trees.append(msgspec.json.decode(blob, type=NodeTree))
            except msgspec.DecodeError:
                log.warning("a node sent an unreadable tree")
        return sorted(trees, key=lambda t: t.node)


def _publish_error(exc: BaseException) -> BaseException:
    """A typed error for a failed publish (cancellation passes through)."""
    from nats.errors import MaxPayloadError

    if isinstance(exc, (asyncio.CancelledError, CoagentError)):
        return exc
    if isinstance(exc, MaxPayloadError):
        return MessageTooLarge("the message is larger than the NATS server allows (max_payload)")
    return TransportError(f"{type(exc).__name__}: {exc}")


def _expire_request(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


def _decode_typed(type_name: str, data: bytes) -> Any:
    cls = lookup_message_type(type_name)
    if cls is None:
        raise UnknownMessage(
            f"reply type {type_name!r} is not defined in this process; import its module"
            " or call with a RawMessage", type=type_name,
        )
    return cls.decode_content(data)


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
