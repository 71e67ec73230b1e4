"""The gateway's endpoints: our ``/v1`` API and the original's CoS calling endpoints.

Each handler turns an HTTP request into one call of the node's public API
(``ask``, ``stream``, ``tell``, ``agents``/``specs``, ``tree``/``cluster_tree``)::

    POST /v1/agents/echo/sessions/s1/call     {"type": "Ping", "content": {"n": 1}}
    -> 200 {"type": "Pong", "content": {"n": 1}}

This is the only module, with :mod:`coagent.gateway.app`, that knows the HTTP stack
(aiohttp); parsing, errors, auth and bookkeeping live in stack-neutral modules.

A little over 400 lines: one handler per endpoint of ``/v1`` and of the CoS calling side,
each a few lines over the node's API; splitting them by endpoint would scatter the shared
parsing of addresses, deadlines and bodies.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from coagent.actors.address import Address, new_session_id
from coagent.actors.message import RawMessage
from coagent.errors import CallCancelled, CoagentError, UnknownMessage
from coagent.gateway.calls import Call, validate_call_id
from coagent.gateway.codec import (
    cos_address,
    cos_to_raw,
    decode_call,
    decode_publish,
    decode_publish_multi,
    encode_reply,
    raw_to_cos_json,
    sse_frame,
)
from coagent.gateway.errors import BadRequest, error_body, status_of
from coagent.gateway.hosted import reply_topic
from coagent.store.base import MSG_ID_HEADER

if TYPE_CHECKING:
    from coagent.gateway.app import Gateway

__all__ = ["Routes", "CALLER", "TIMEOUT_HEADER", "CALL_ID_HEADER", "SESSION_HEADER"]

TIMEOUT_HEADER = "Coagent-Timeout"
CALL_ID_HEADER = "Coagent-Call-Id"
SESSION_HEADER = "Coagent-Session"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: The identity of the request's caller (its token's user, or a digest of the token; ``""``
#: without auth, see :mod:`coagent.gateway.auth`): scopes call ids and keys.
CALLER = web.RequestKey("caller", str)
JSON = "application/json"

_SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # a reverse proxy must pass events on as they come
}
_encode = msgspec.json.Encoder().encode


def keyed(raw: RawMessage, caller: str, address: Address, key: str) -> RawMessage:
    """``raw`` with a message id derived from its ``Idempotency-Key``.

    A durable agent type's store refuses an id it has seen, so a retry is not applied
    twice even where this gateway's own memory of keys cannot tell: after it restarted,
    through another gateway of the cluster, after the key's window, after the token file
    was reordered (``caller`` is a stable identity). A message id the client set itself (a
    ``msg_id`` header in the body) is kept.
    """
    if MSG_ID_HEADER in raw.header:
        return raw
    # "0" without auth, as before callers had identities: ids made then are still recognised.
    digest = hashlib.blake2b(f"{caller or '0'}\0{address}\0{key}".encode(), digest_size=16).hexdigest()
    return RawMessage(header={**raw.header, MSG_ID_HEADER: "idem-" + digest}, content=raw.content)


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error_response(exc: CoagentError, status: int | None = None) -> web.Response:
    """The typed error body with its status (``status`` overrides it, as the CoS endpoints do)."""
    code, headers = status_of(exc)
    return json_response(error_body(exc), status or code, headers)


class Routes:
    """The request handlers of one :class:`~coagent.gateway.app.Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.runtime = gateway.runtime

    def add_to(self, app: web.Application) -> None:
        r = app.router
        for tail in ("/sessions/{session}", ""):  # the hot path is matched first
            base = "/v1/agents/{name}" + tail
            r.add_post(base + "/call", self.call)
            r.add_post(base + "/stream", self.stream)
            r.add_post(base + "/tell", self.tell)
        r.add_delete("/v1/calls/{call_id}", self.cancel)
        r.add_get("/v1/agents", self.agents)
        r.add_get("/v1/tree", self.tree)
        r.add_get("/v1/health", self.health)
        r.add_get("/openapi.json", self.openapi)
        r.add_post("/runtime/channel/publish", self.cos_publish)
        r.add_post("/runtime/channel/publish_multi", self.cos_publish_multi)
        from coagent.gateway.serving import Serving  # it imports this module

        self.serving = Serving(self, self.gw.hosted)
        self.serving.add_to(app)

    # ------------------------------------------------------------- helpers

    def _address(self, request: web.Request) -> Address:
        info = request.match_info
        session = info.get("session")
        return Address(info["name"], new_session_id() if session is None else session)

    def _timeout(self, request: web.Request, given: float | None = None) -> float:
        """Seconds the call may take: ``given``, else the header, else the default; capped."""
        if given is None:
            text = request.headers.get(TIMEOUT_HEADER)
            if text is None:
                return self.gw.default_timeout
            try:
                given = float(text)
            except ValueError:
                raise BadRequest(f"{TIMEOUT_HEADER} must be a number of seconds, got {text!r}") from None
            if not math.isfinite(given) or given <= 0:
                raise BadRequest(f"{TIMEOUT_HEADER} must be a positive number of seconds, got {text!r}")
        elif not math.isfinite(given) or given <= 0:
            return self.gw.default_timeout
        return min(given, self.gw.max_timeout)

    def _check_type(self, address: Address, raw: RawMessage) -> None:
        """Refuse a message type the agent cannot handle, when its class is known here.

        Agents on other nodes answer ``UnknownMessage`` themselves before any handler runs.
        """
        for spec in self.runtime.specs():
            if spec.name == address.name:
                cls = spec.actor_class
                find = getattr(cls, "handler_for_wire_type", None)
                if find is not None and find(raw.type) is None:
                    raise UnknownMessage(
                        f"{address.name} has no handler for message type {raw.type!r}"
                        f" (it handles {', '.join(cls.message_types()) or 'nothing'})",
                        type=raw.type,
                    )
                return

    def _call_id(self, request: web.Request) -> str:
        given = request.headers.get(CALL_ID_HEADER)
        return self.gw.calls.new_id() if given is None else validate_call_id(given)

    async def _message(self, request: web.Request, address: Address) -> RawMessage:
        raw = decode_call(await self.gw.read_body(request))
        self._check_type(address, raw)
        return raw

    @staticmethod
    def _cancelled(call: Call) -> CallCancelled:
        """Our own cancel reached this task (the client's disconnect stays a cancellation)."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return CallCancelled("the call was cancelled (DELETE /v1/calls/{call_id})")

    # ------------------------------------------------------------ our API

    async def call(self, request: web.Request) -> web.StreamResponse:
        """Ask the agent; reply as JSON (204 when the handler returns nothing)."""
        address = self._address(request)
        raw = await self._message(request, address)
        timeout = self._timeout(request)
        call_id = self._call_id(request)
        headers = {CALL_ID_HEADER: call_id, SESSION_HEADER: address.session}
        with self.gw.calls.track(request[CALLER], call_id) as call:
            try:
                reply = await self.runtime.ask(address, raw, timeout=timeout)
            except asyncio.CancelledError:
                if not call.cancelled:
                    raise  # the client went away: the ask cancelled the handler
                raise self._cancelled(call) from None
        if reply is None:
            return web.Response(status=204, headers=headers)
        return json_response(encode_reply(reply), headers=headers)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Stream the replies as SSE: ``message`` events, then ``end`` or ``error``.

        The response starts with the first reply, so an error before any (an unknown agent,
        a crash at once) comes with its own status instead of inside an event stream.
        """
        address = self._address(request)
        raw = await self._message(request, address)
        timeout = self._timeout(request)
        call_id = self._call_id(request)
        with self.gw.calls.track(request[CALLER], call_id) as call:
            replies = self.runtime.stream(address, raw, timeout=timeout)
            try:
                try:
                    first: Any = await replies.__anext__()
                except StopAsyncIteration:
                    first = _END
                except asyncio.CancelledError:
                    if not call.cancelled:
                        raise
                    raise self._cancelled(call) from None
                resp = web.StreamResponse(headers={
                    **_SSE_HEADERS, CALL_ID_HEADER: call_id, SESSION_HEADER: address.session,
                })
                await resp.prepare(request)
                out = _Events(resp)
                heartbeat = asyncio.ensure_future(self._heartbeat(out))
                try:
                    await self._pump(out, replies, first, call)
                finally:
                    heartbeat.cancel()
                return resp
            finally:
                await replies.aclose()

    async def _heartbeat(self, out: _Events) -> None:
        """An SSE comment after each ``sse_heartbeat`` seconds without an event."""
        every = self.gw.sse_heartbeat
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(max(0.0, out.last + every - loop.time()))
                if loop.time() - out.last >= every:
                    await out.write(b": keep-alive\n\n")
        except (ConnectionError, RuntimeError):
            pass  # the client left or the response ended: the stream's own task handles it

    async def _pump(self, resp: _Events, replies: Any, first: Any, call: Call) -> None:
        n = 0
        try:
            item = first
            while item is not _END:
                n += 1
                await resp.write(sse_frame(n, "message", encode_reply(item)))
                try:
                    item = await replies.__anext__()
                except StopAsyncIteration:
                    item = _END
            await resp.write(sse_frame(n + 1, "end", b'{"count":%d}' % n))
        except CoagentError as exc:
            await resp.write(sse_frame(n + 1, "error", error_body(exc)))
        except asyncio.CancelledError:
            if not call.cancelled:
                raise
            await resp.write(sse_frame(n + 1, "error", error_body(self._cancelled(call))))

    async def tell(self, request: web.Request) -> web.StreamResponse:
        """Deliver without waiting for a reply (202); ``Idempotency-Key`` delivers at most once."""
        address = self._address(request)
        body = await self.gw.read_body(request)
        raw = decode_call(body)
        self._check_type(address, raw)
        timeout = self._timeout(request)
        headers = {SESSION_HEADER: address.session}
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            await self._tell(address, raw, timeout)
            return json_response(b'{"accepted":true,"replayed":false}', 202, headers)
        caller = request[CALLER]
        fingerprint = hashlib.blake2b(str(address).encode() + b"\0" + body, digest_size=16).digest()
        if await self.gw.idempotency.begin(caller, key, fingerprint):
            headers["Idempotent-Replayed"] = "true"
            return json_response(b'{"accepted":true,"replayed":true}', 202, headers)
        delivered = False
        try:
            await self._tell(address, keyed(raw, caller, address, key), timeout)
            delivered = True
        finally:
            self.gw.idempotency.end(caller, key, delivered)
        return json_response(b'{"accepted":true,"replayed":false}', 202, headers)

    async def _tell(self, address: Address, raw: RawMessage, timeout: float) -> None:
        if not await self.gw.hosted.tell_stored(address, raw, timeout):
            await self.runtime.tell(address, raw, timeout=timeout)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        """Cancel a call or stream by its id; repeating it gives the same answer."""
        call_id = validate_call_id(request.match_info["call_id"])
        state = self.gw.calls.cancel(request[CALLER], call_id)
        return json_response(_encode({"call_id": call_id, "state": state}))

    async def agents(self, request: web.Request) -> web.StreamResponse:
        """Every agent type reachable from this gateway, with the nodes serving it."""
        rows: dict[str, dict[str, Any]] = {}
        finder = getattr(self.runtime, "agents", None)
        if finder is not None:
            for info in await finder(timeout=self.gw.discovery_timeout):
                row = rows.setdefault(info.name, {"name": info.name, "description": info.description,
                                                  "nodes": [], "message_types": None})
                row["nodes"].append(info.node)
        for spec in self.runtime.specs():
            row = rows.setdefault(spec.name, {"name": spec.name, "description": spec.description,
                                              "nodes": [], "message_types": None})
            provider = self.gw.hosted.providers.get(spec.name)
            # A type served over HTTP is on the node of the process serving it.
            node = (provider.node or self.runtime.name) if provider is not None else self.runtime.name
            if node not in row["nodes"]:
                row["nodes"].append(node)
            types = getattr(spec.actor_class, "message_types", None)
            if types is not None and provider is None:
                row["message_types"] = types()
        return json_response(_encode({"agents": [rows[name] for name in sorted(rows)]}))

    async def tree(self, request: web.Request) -> web.StreamResponse:
        """The supervision tree of every node (this one alone when it is the hub)."""
        cluster = getattr(self.runtime, "cluster_tree", None)
        if cluster is not None:
            trees = await cluster(timeout=self.gw.discovery_timeout)
        else:
            trees = [await self.runtime.tree()]
        return json_response(_encode({"nodes": [t.to_dict() for t in trees]}))

    async def health(self, request: web.Request) -> web.StreamResponse:
        """For load balancers; needs no token. 503 while a NATS node has lost its server."""
        nc = getattr(self.runtime, "nc", None)
        if nc is not None and not nc.is_connected:
            return json_response(b'{"status":"unavailable","reason":"no connection to the NATS server"}',
                                 503, {"Retry-After": "1"})
        return json_response(b'{"status":"ok"}')

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        from coagent.gateway.openapi import document

        return json_response(_encode(document()))

    # --------------------------------------------------- the original's CoS endpoints

    async def cos_publish(self, request: web.Request) -> web.StreamResponse:
        """The original's publish: 200 + RawMessage for a request, 204 otherwise, 404 on an error."""
        body = decode_publish(await self.gw.read_body(request))
        call_id = reply_topic(body.addr.name)
        if call_id is not None:  # a CoS agent answering a call it was given
            return await self.serving.cos_reply(call_id, request[CALLER], body.msg)
        try:
            address = cos_address(body.addr)
            if body.reply or body.msg.reply is not None:
                raise BadRequest("a publish carries no reply address here: use request=true for an answer")
            raw = cos_to_raw(body.msg)
            self._check_type(address, raw)
            timeout = self._timeout(request, body.timeout if body.timeout is not None else None)
            if not body.request:
                await self.runtime.tell(address, raw, timeout=timeout)
                return web.Response(status=204)
            reply = await self.runtime.ask(address, raw, timeout=timeout)
        except CoagentError as exc:
            return error_response(exc, 404)
        if reply is None:
            return web.Response(status=204)
        return json_response(raw_to_cos_json(reply))

    async def cos_publish_multi(self, request: web.Request) -> web.StreamResponse:
        """The original's publish_multi: SSE of RawMessages, an ``error`` event, then the end."""
        body = decode_publish_multi(await self.gw.read_body(request))
        resp = web.StreamResponse(headers=_SSE_HEADERS)
        try:
            address = cos_address(body.addr)
            raw = cos_to_raw(body.msg)
            self._check_type(address, raw)
            timeout = self._timeout(request)
        except CoagentError as exc:
            await resp.prepare(request)
            await resp.write(b"event: error\ndata: %s\n\n" % error_body(exc))
            return resp
        await resp.prepare(request)
        out = _Events(resp)
        heartbeat = asyncio.ensure_future(self._heartbeat(out))
        try:
            async with self.runtime.stream(address, raw, timeout=timeout) as replies:
                try:
                    async for item in replies:
                        await out.write(b"data: %s\n\n" % raw_to_cos_json(item))
                except CoagentError as exc:
                    await out.write(b"event: error\ndata: %s\n\n" % error_body(exc))
        finally:
            heartbeat.cancel()
        # As in the original, the stream ends by closing: its clients read that as StopIteration.
        return resp


_END = object()


class _Events:
    """An SSE response that remembers when it last sent something (for the heartbeat)."""

    __slots__ = ("last", "loop", "resp")

    def __init__(self, resp: web.StreamResponse) -> None:
        self.resp = resp
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()

    async def write(self, data: bytes) -> None:
        self.last = self.loop.time()
        await self.resp.write(data)
