"""The gateway's serving endpoints: outside processes register agent types and serve them.

The original's CoS dialect (its clients work unchanged)::

    POST /runtime/register           {"name": "server", "description": "..."}  -> SSE: AgentCreated ...
    POST /runtime/channel/subscribe  {"addr": {"name": "server", "id": "s1"}}  -> SSE: RawMessages
    POST /runtime/channel/publish    {"addr": {"name": "_reply.<id>"}, "msg": <answer>}   -> 204

and ours (``docs/wire.md``, "HTTP serving")::

    POST /v1/serve                   {"agents": [{"name": "echo"}], "node": "n1"}
        -> SSE: event ready, then event deliver {"call", "kind", "agent", "session", "type", ...}
                and event cancel {"call"}
    POST /v1/deliveries/{call}       {"reply": {"type": "Pong", "content": {...}}}     -> 204
                                     {"items": [...], "end": true} | {"error": {"code", "message"}}

With :mod:`coagent.gateway.routes` and :mod:`coagent.gateway.app`, the only modules that
know aiohttp; the bookkeeping is :mod:`coagent.gateway.hosted`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from coagent.actors.address import Address, validate_session
from coagent.actors.message import CONTENT_TYPE_JSON, RawMessage
from coagent.errors import CoagentError
from coagent.gateway.codec import CosAddress, cos_to_raw
from coagent.gateway.errors import BadRequest, CallNotFound
from coagent.gateway.hosted import Hosted
from coagent.gateway.providers import Provider, Waiter
from coagent.gateway.routes import _SSE_HEADERS, CALLER, Routes, _Events
from coagent.transport.wire import decode_error

__all__ = ["Serving"]

_EMPTY = msgspec.Raw(b"{}")
_encode = msgspec.json.Encoder().encode


class _Register(msgspec.Struct):
    """The original's ``/runtime/register`` body."""

    name: str
    description: str = ""
    #: Not in the original's protocol: a client may ask for durable delivery (as
    #: ``coagent gateway --durable-cos NAME`` does for clients that cannot).
    durable: bool = False


class _Subscribe(msgspec.Struct):
    addr: CosAddress


class _AgentType(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str = ""
    #: Its process keeps its sessions in a store: a tell is answered once stored there.
    durable: bool = False


class _Serve(msgspec.Struct, forbid_unknown_fields=True):
    """Our ``/v1/serve`` body: the types this process serves, and its node name."""

    agents: list[_AgentType]
    node: str = ""


class _Item(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    content: msgspec.Raw = _EMPTY
    headers: dict[str, str] = {}


class _Error(msgspec.Struct):
    code: str
    message: str = ""
    details: dict[str, Any] = {}


class _LineAnswer(msgspec.Struct, forbid_unknown_fields=True):
    """One line of ``/v1/serve/{provider}/answers``: an answer with its call id."""

    call: str
    reply: _Item | msgspec.UnsetType | None = msgspec.UNSET
    items: list[_Item] = []
    end: bool = False
    error: _Error | None = None


class _Answer(msgspec.Struct, forbid_unknown_fields=True):
    """``/v1/deliveries/{call}``: exactly one of ``reply``, ``items`` (with ``end``), ``error``."""

    reply: _Item | msgspec.UnsetType | None = msgspec.UNSET
    items: list[_Item] = []
    end: bool = False
    error: _Error | None = None


def _decode(body: bytes, cls: type[Any], what: str) -> Any:
    try:
        return msgspec.json.decode(body, type=cls)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest(f"malformed {what} body: {exc}") from None


def _raw(item: _Item) -> RawMessage:
    if not item.type:
        raise BadRequest("a reply's message type ('type') must not be empty")
    content = bytes(item.content)
    header = {"content_type": CONTENT_TYPE_JSON, **item.headers, "type": item.type}
    return RawMessage(header=header, content=b"{}" if content == b"null" else content)


class Serving:
    """The serving endpoints of one gateway (see the module docstring)."""

    def __init__(self, routes: Routes, hosted: Hosted) -> None:
        self.routes = routes
        self.gw = routes.gw
        self.hosted = hosted

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/runtime/register", self.cos_register)
        r.add_post("/runtime/channel/subscribe", self.cos_subscribe)
        r.add_post("/v1/serve", self.serve)
        r.add_post("/v1/deliveries/{call_id}", self.deliver)
        r.add_post("/v1/serve/{provider}/answers", self.answers)

    async def _stream(self, request: web.Request, provider: Provider, first: bytes = b"") -> web.StreamResponse:
        """Send the provider's events until either side goes away; then close it."""
        try:
            resp = web.StreamResponse(headers=_SSE_HEADERS)
            await resp.prepare(request)
            out = _Events(resp)
            if first:
                await out.write(first)
            heartbeat = asyncio.ensure_future(self.routes._heartbeat(out))
            try:
                while (event := await provider.next_event()) is not None:
                    await out.write(event)
            finally:
                heartbeat.cancel()
            return resp
        finally:
            await asyncio.shield(self.hosted.close(provider))

    # ---------------------------------------------------------------- CoS

    async def cos_register(self, request: web.Request) -> web.StreamResponse:
        """The original's register: an SSE stream of ``AgentCreated`` for each new session."""
        body = _decode(await self.gw.read_body(request), _Register, "register")
        durable = {body.name} if body.durable or body.name in self.hosted.durable_cos else set()
        provider = await self.hosted.open("cos", [body.name], {body.name: body.description},
                                          request[CALLER], durable=durable)
        return await self._stream(request, provider)

    async def cos_subscribe(self, request: web.Request) -> web.StreamResponse:
        """Every message to one CoS session, as SSE; its mailbox outlives a brief disconnect."""
        from coagent.gateway.routes import CALLER

        body = _decode(await self.gw.read_body(request), _Subscribe, "subscribe")
        address = Address(body.addr.name, validate_session(body.addr.id))
        provider, session = self.hosted.cos_session(address, request[CALLER])
        generation = self.hosted.subscribed(session)
        try:
            resp = web.StreamResponse(headers=_SSE_HEADERS)
            await resp.prepare(request)
            out = _Events(resp)
            heartbeat = asyncio.ensure_future(self.routes._heartbeat(out))
            try:
                while (event := await session.outbox.get()) is not None:
                    try:
                        await out.write(event)
                    except BaseException:
                        session.outbox.unget(event)  # the next subscriber gets it
                        raise
            finally:
                heartbeat.cancel()
            return resp
        finally:
            self.hosted.unsubscribed(provider, session, generation)

    async def cos_reply(self, call_id: str, caller: str, msg: Any) -> web.StreamResponse:
        """A CoS agent's answer published to a reply topic (one per item; then ``StopIteration``)."""
        waiter = self.hosted.waiter(call_id, caller)
        if waiter is not None:
            raw = cos_to_raw(msg)
            if raw.header.get("type") == "StopIteration":
                await waiter.offer(None, end=True)
            else:
                await waiter.offer(raw, end=False)
        # A late answer (the caller gave up, or an ask took the first item) is dropped.
        return web.Response(status=204)

    # ---------------------------------------------------------------- ours

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Register agent types and receive their calls as one SSE stream of deliveries."""
        body = _decode(await self.gw.read_body(request), _Serve, "serve")
        names = [a.name for a in body.agents]
        if len(set(names)) != len(names):
            raise BadRequest("an agent type is listed twice")
        provider = await self.hosted.open("v1", names, {a.name: a.description for a in body.agents},
                                          request[CALLER], body.node,
                                          durable={a.name for a in body.agents if a.durable})
        ready = _encode({"provider": provider.id, "agents": names, "node": self.gw.runtime.name})
        return await self._stream(request, provider, b"event: ready\ndata: %s\n\n" % ready)

    async def deliver(self, request: web.Request) -> web.StreamResponse:
        """The answer to one delivered call: a reply, stream items (and the end), or an error."""
        call_id = request.match_info["call_id"]
        body = await self.gw.read_body(request)
        answer: _Answer = _decode(body, _Answer, "delivery answer")
        waiter = self.hosted.waiter(call_id, request[CALLER])
        if waiter is None:
            raise CallNotFound(f"no call {call_id!r} is waiting for an answer (it ended or was cancelled)",
                               call_id=call_id)
        await self._answer(call_id, waiter, answer)
        return web.Response(status=204)

    async def answers(self, request: web.Request) -> web.StreamResponse:
        """Answers as JSON lines of one long-lived request body (a line each; same shapes as
        ``/v1/deliveries/{call}`` plus ``call``), for as long as the provider's stream lives."""
        provider = self.hosted.by_id.get(request.match_info["provider"])
        if provider is None or provider.caller != request[CALLER]:
            raise CallNotFound("no such provider: open /v1/serve first")
        decoder = msgspec.json.Decoder(_LineAnswer)
        content = request.content
        while not provider.closed:
            try:
                line = await content.readline()
            except ValueError:
                raise BadRequest("an answer line is too long: POST it to /v1/deliveries/{call}") from None
            if not line:
                break
            if not line.strip():
                continue
            try:
                answer = decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise BadRequest(f"malformed answer line: {exc}") from None
            waiter = self.hosted.waiter(answer.call, request[CALLER])
            if waiter is not None:  # else late: its caller has gone
                try:
                    await self._answer(answer.call, waiter, answer)
                except BadRequest as exc:
                    waiter.fail(exc)
                    self.hosted.finish(answer.call)
        return web.Response(status=204)

    async def _answer(self, call_id: str, waiter: Waiter, answer: _Answer | _LineAnswer) -> None:
        if answer.error is not None:
            err = answer.error
            error: CoagentError = decode_error(err.code, _encode({"message": err.message,
                                                                   "details": err.details}))
            waiter.fail(error)
            self.hosted.finish(call_id)
            return
        if answer.reply is not msgspec.UNSET:
            reply = answer.reply
            await waiter.offer(None if reply is None else _raw(reply), end=True)
            self.hosted.finish(call_id)
            return
        items = [_raw(item) for item in answer.items]
        for raw in items:
            await waiter.offer(raw, end=False)
        if answer.end:
            await waiter.offer(None, end=True)
            self.hosted.finish(call_id)
