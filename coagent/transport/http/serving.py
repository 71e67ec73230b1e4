"""Calls into this process: each agent type served here keeps a stream of deliveries open.

Why one module of about 470 lines: the delivery stream, its reconnects and the answer
channel are one protocol whose parts share the stream's state; reply sinks live apart.

::

    serving = Serving(session, base, headers, node, backoff=(0.1, 5.0))
    await serving.serve(spec, deadline)      # POST /v1/serve; returns once the gateway said ready
    ...                                      # deliveries become envelopes of the node's cells
    await serving.withdraw(["echo"])         # the stream closes; the gateway deregisters the type

A stream that breaks (the gateway restarted, the network failed) is opened again with
exponential backoff and jitter, for as long as the type is served here; the calls it
carried are cancelled here, since their answers have nowhere to go.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any

import aiohttp
import msgspec

from coagent.actors.address import Address
from coagent.actors.cell import Cell
from coagent.actors.envelope import ASK, STREAM, TELL, Envelope, ExternalReply
from coagent.actors.message import RawMessage
from coagent.errors import (
    AgentAlreadyRegistered,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    TransportError,
)
from coagent.observability.switch import state as _obs
from coagent.supervision.spec import AgentSpec
from coagent.transport.base import InboundNode, ServedCall
from coagent.transport.http.codec import (
    Delivery,
    content_of,
    decode_error_body,
    delivery_decoder,
    encode_error_answer,
    raw_from,
)
from coagent.transport.http.sse import read_events
from coagent.transport.wire import encode_error

__all__ = ["Serving"]

log = logging.getLogger("coagent.http")

_encode = msgspec.json.Encoder().encode


class _Item(msgspec.Struct, omit_defaults=True):
    type: str
    content: msgspec.Raw
    headers: dict[str, str] = {}


def _item(raw: RawMessage) -> _Item:
    header = raw.header
    extra = {k: v for k, v in header.items() if k not in ("type", "content_type")} if len(header) > 2 else {}
    return _Item(header.get("type", ""), content_of(raw), extra)


class _Reply(ExternalReply):
    """The caller's future, for a caller behind the gateway: the answer is one line on the
    stream's answer channel (or one POST when it has none)."""

    __slots__ = ("_body", "answers", "call", "done_", "sv")

    def __init__(self, sv: Serving, call: str, answers: _Answers | None) -> None:
        self.sv = sv
        self.call = call
        self.answers = answers
        self.done_ = False
        self._body: bytes | None = None

    def done(self) -> bool:
        return self.done_

    def set_result(self, raw: RawMessage | None) -> None:
        if self.done_:
            return
        self.done_ = True
        self.sv.finished(self.call)
        self._body = b'{"reply":null}' if raw is None else b'{"reply":%s}' % _encode(_item(raw))

    async def flush(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            answers = self.answers
            if answers is None or not answers.send(self.call, body):
                await self.sv.answer(self.call, body)

    def set_exception(self, exc: BaseException) -> None:
        if self.done_:
            return
        self.done_ = True
        self.sv.finished(self.call)
        self.sv.answer_later(self.call, _error_answer(exc))

    def abandon(self) -> None:
        self.done_ = True


def _error_answer(exc: BaseException) -> bytes:
    if isinstance(exc, CoagentError):
        return encode_error_answer(exc)
    code, body = encode_error(exc)
    parsed = msgspec.json.decode(body)
    return _encode({"error": {"code": code, **parsed}})


class _Stream:
    """The caller's reply channel, for a caller behind the gateway: items go in batches.

    A background POST carries what is pending; the items that come meanwhile wait for
    the next one (at most ``limit`` of them: then the handler waits), so a fast stream
    costs far fewer requests than items.
    """

    __slots__ = ("_flusher", "_idle", "_pending", "call", "closed", "ended", "limit", "sv")

    def __init__(self, sv: Serving, call: str, limit: int = 64) -> None:
        self.sv = sv
        self.call = call
        self.closed = False  # no more items are taken
        self.ended = False   # the end marker is due
        self.limit = limit
        self._pending: list[bytes] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._flusher: asyncio.Task[None] | None = None

    async def send(self, raw: RawMessage) -> bool:
        if self.closed:
            return False
        self._pending.append(_encode(_item(raw)))
        if self._idle.is_set():
            self._idle.clear()
            self._flusher = asyncio.ensure_future(self._flush())
        elif len(self._pending) >= self.limit:
            await self._idle.wait()
        return not self.closed

    async def _flush(self) -> None:
        try:
            while self._pending or self.ended:
                items, self._pending = self._pending, []
                end, self.ended = self.ended, False
                body = b'{"items":[%s],"end":%s}' % (b",".join(items), b"true" if end else b"false")
                if not await self.sv.answer(self.call, body):
                    self.closed = True
                    self._pending.clear()
                    return
                if end:
                    return
        finally:
            self._idle.set()

    def close(self, error: BaseException | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        self.sv.finished(self.call)
        if error is not None:
            self._pending.clear()
            self.sv.spawn(self._after_flush(_error_answer(error)))
            return
        self.ended = True
        if self._idle.is_set():
            self._idle.clear()
            self.sv.spawn(self._flush())
        # else: the running flusher sends the end after what is pending

    async def _after_flush(self, body: bytes) -> None:
        await self._idle.wait()
        await self.sv.answer(self.call, body)

    def abandon(self) -> None:
        self.closed = True
        self.ended = False
        self._pending.clear()


class _Answers:
    """One long-lived POST whose chunked body carries answers, one JSON line each.

    Measured with ``benchmarks/http.py`` (asks through the gateway to an HTTPRuntime
    process, the loaded 2-core machine): a POST per answer makes the gateway handle two
    requests per call; a line on this channel costs it a line parse. Stream items keep
    their own POSTs (batched, and in order); answers past ``MAX_LINE`` bytes too.
    """

    MAX_LINE = 60_000  # under aiohttp's line limit on the gateway's side

    def __init__(self, sv: Serving, provider: str) -> None:
        self.sv = sv
        self.url = f"{sv.base}/v1/serve/{provider}/answers"
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.open = True
        self.task = asyncio.ensure_future(self._run())

    def send(self, call: str, body: bytes) -> bool:
        """Queue an answer; ``False``: send it another way."""
        if not self.open or len(body) > self.MAX_LINE:
            return False
        self.queue.put_nowait(b'{"call":"%s",%s\n' % (call.encode(), body[1:]))
        return True

    async def _body(self) -> Any:
        while (line := await self.queue.get()) is not None:
            lines = [line]
            while not self.queue.empty():  # a burst goes out as one chunk
                more = self.queue.get_nowait()
                if more is None:
                    yield b"".join(lines)
                    return
                lines.append(more)
            yield b"".join(lines)

    async def _run(self) -> None:
        try:
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with self.sv.session.post(self.url, data=self._body(), headers=self.sv.headers,
                                            timeout=timeout) as resp:
                await resp.read()
        except (aiohttp.ClientError, ConnectionError) as exc:
            log.info("the answer channel closed: %s", exc)
        finally:
            self.open = False

    def close(self) -> None:
        self.open = False
        self.queue.put_nowait(None)
        self.task.cancel()


class Serving:
    """The delivery streams of the agent types served here, and the calls they carry."""

    def __init__(self, session: aiohttp.ClientSession, base: str, headers: dict[str, str],
                 node: InboundNode, backoff: tuple[float, float] = (0.1, 5.0),
                 read_timeout: float = 45.0) -> None:
        self.session = session
        self.base = base
        self.headers = {"Content-Type": "application/json", **headers}
        self.node = node
        self.backoff = backoff
        self.read_timeout = read_timeout
        self.streams: dict[str, asyncio.Task[None]] = {}
        self.calls: dict[str, ServedCall] = {}
        self.connected: dict[str, asyncio.Event] = {}
        self.answer_channels: dict[str, _Answers] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.reconnects = 0
        #: Types whose deliveries wait (see :meth:`hold`).
        self.holding: dict[str, asyncio.Event] = {}

    def hold(self, name: str) -> None:
        """Deliveries of type ``name`` wait until :meth:`release`: a durable type's stream is
        ready before the node serves the type from its store, and a tell delivered in between
        would be answered "stored" without being in it."""
        self.holding[name] = asyncio.Event()

    def release(self, name: str) -> None:
        held = self.holding.pop(name, None)
        if held is not None:
            held.set()

    # ------------------------------------------------------------ streams

    async def serve(self, spec: AgentSpec, deadline: float) -> None:
        """Open the type's stream; returns once the gateway registered it (or raise)."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.connected[spec.name] = asyncio.Event()
        task = asyncio.ensure_future(self._run(spec.name, spec.description, ready, deadline,
                                               spec.durable))
        self.streams[spec.name] = task
        try:
            await asyncio.shield(ready)
        except BaseException:
            task.cancel()
            self.streams.pop(spec.name, None)
            self.connected.pop(spec.name, None)
            raise

    async def withdraw(self, names: Sequence[str]) -> None:
        tasks = [t for n in names if (t := self.streams.pop(n, None)) is not None]
        for name in names:
            self.connected.pop(name, None)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        await self.withdraw(list(self.streams))
        for answers in self.answer_channels.values():
            answers.close()
        self.answer_channels.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, name: str, description: str, ready: asyncio.Future[None], deadline: float,
                   durable: bool = False) -> None:
        loop = asyncio.get_running_loop()
        agent: dict[str, Any] = {"name": name, "description": description}
        if durable:  # the gateway then waits for "stored" before a tell's 202 (docs/wire.md)
            agent["durable"] = True
        body = _encode({"agents": [agent], "node": self.node.name})
        delay = self.backoff[0]
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=self.read_timeout)
        while True:
            error: BaseException | None = None
            try:
                async with self.session.post(f"{self.base}/v1/serve", data=body, headers=self.headers,
                                             timeout=timeout) as resp:
                    if resp.status != 200:
                        error = decode_error_body(resp.status, await resp.read())
                    else:
                        await self._read(name, resp, ready)
                        delay = self.backoff[0]
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                error = TransportError(f"the gateway at {self.base} is unreachable: {exc}")
            finally:
                event = self.connected.get(name)
                if event is not None:
                    event.clear()
                answers = self.answer_channels.pop(name, None)
                if answers is not None:
                    answers.close()
                self._drop_calls()
            # Registering fails clearly: a name taken, or no gateway before the deadline.
            if not ready.done() and (isinstance(error, AgentAlreadyRegistered)
                                     or loop.time() + delay > deadline):
                ready.set_exception(error or TransportError("the gateway closed the stream"))
                return
            self.reconnects += 1
            log.info("the delivery stream of %s ended (%s); reconnecting in %.1fs", name, error, delay)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.backoff[1])

    async def _read(self, name: str, resp: aiohttp.ClientResponse, ready: asyncio.Future[None]) -> None:
        answers: _Answers | None = None
        async for event, data in read_events(resp.content):
            if event == "deliver":
                held = self.holding.get(name)
                if held is not None:
                    await held.wait()
                await self._deliver(delivery_decoder.decode(data), answers)
            elif event == "cancel":
                self._cancel(msgspec.json.decode(data).get("call", ""))
            elif event == "ready":
                provider = msgspec.json.decode(data).get("provider")
                if isinstance(provider, str) and provider.isalnum():
                    answers = self.answer_channels[name] = _Answers(self, provider)
                if not ready.done():
                    ready.set_result(None)
                connected = self.connected.get(name)
                if connected is not None:
                    connected.set()

    def _drop_calls(self) -> None:
        """The stream broke: the gateway has failed its calls; stop their handlers here."""
        for call in list(self.calls):
            self._cancel(call)

    # ------------------------------------------------------------ calls

    async def _deliver(self, d: Delivery, answers: _Answers | None = None) -> None:
        node = self.node
        try:
            address = Address(d.agent, d.session)
            sender = Address.parse(d.sender) if d.sender else None
        except InvalidAddress as exc:
            if d.call:
                self.answer_later(d.call, _error_answer(exc))
            return
        raw = raw_from(d.type, d.content, d.headers)
        deadline = asyncio.get_running_loop().time() + max(d.timeout, 0.001)
        sink: Any
        if d.kind == "tell" or not d.call:
            sink, kind = None, TELL
            try:
                stored = await node.accept(address, raw)  # a durable type's: in its store first
            except CoagentError as exc:
                if d.call:
                    self.answer_later(d.call, _error_answer(exc))
                return
            # The gateway waits for this answer before its 202 (stored, or a known retry).
            if d.call and (answers is None or not answers.send(d.call, b'{"reply":null}')):
                self.answer_later(d.call, b'{"reply":null}')
            if stored is None:
                return  # its id was stored before: a retried send, delivered already
            raw = stored
        elif d.kind == "stream":
            sink, kind = _Stream(self, d.call), STREAM
        else:
            sink, kind = _Reply(self, d.call, answers), ASK
        env = Envelope(raw, kind, sink, sender, deadline)
        if _obs.tracing:  # the gateway's relay span is the parent, not this reader's context
            env.trace = _obs.hooks.extract_fields(d.traceparent, d.tracestate)
        try:
            cell = node.live_cell(address) or await node.resolve(address)
        except CoagentError as exc:
            env.fail(exc)
            return
        if sink is not None:
            self.calls[d.call] = ServedCall(cell, env, node.expire_at(deadline, self._expire, d.call))
        try:
            if node.deliver(cell, env):
                return
        except CoagentError as exc:
            env.fail(exc)
            return
        self.spawn(self._deliver_later(cell, env))

    async def _deliver_later(self, cell: Cell, env: Envelope) -> None:
        try:
            await self.node.deliver_later(cell, env)
        except CoagentError as exc:
            env.fail(exc)

    def _expire(self, call: str) -> None:
        served = self.calls.pop(call, None)
        if served is not None:
            served.env.fail(DeadlineExceeded(f"the deadline of a call to {served.cell.address} passed"))
            served.cell.cancel(served.env)

    def _cancel(self, call: str) -> None:
        served = self.calls.pop(call, None)
        if served is not None:
            served.expiry.cancel()
            served.cell.cancel(served.env)
            served.env.reply.abandon()

    def finished(self, call: str) -> None:
        served = self.calls.pop(call, None)
        if served is not None:
            served.expiry.cancel()

    async def answer(self, call: str, body: bytes) -> bool:
        """POST an answer; ``False`` when the gateway no longer waits for it."""
        try:
            async with self.session.post(f"{self.base}/v1/deliveries/{call}", data=body,
                                         headers=self.headers) as resp:
                if resp.status == 204:
                    return True
                if resp.status != 404:
                    log.warning("the gateway refused the answer to %s: %s", call,
                                decode_error_body(resp.status, await resp.read()))
                return False
        except (aiohttp.ClientError, ConnectionError) as exc:
            log.info("the answer to %s was not delivered: %s", call, exc)
            return False

    def answer_later(self, call: str, body: bytes) -> None:
        self.spawn(self.answer(call, body))

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
