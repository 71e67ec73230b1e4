"""Calls from this process to agents elsewhere, through the gateway's ``/v1`` API.

::

    caller = Caller(session, "http://gw:8000", headers={"Authorization": "Bearer T"})
    reply = await caller.ask(Address("echo", "s1"), Ping(n=1).encode(), deadline)
    opened = await caller.open_stream(Address("echo", "s1"), Count(n=3).encode(), deadline, None)

Each call is one HTTP request; its deadline travels in ``Coagent-Timeout`` and bounds
the request too. A caller that gives up closes the request, and the gateway cancels
the handler (its ``handler_cancellation``).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import aiohttp

from coagent.actors.address import Address
from coagent.actors.envelope import ReplyChannel
from coagent.actors.message import RawMessage
from coagent.errors import CoagentError, DeadlineExceeded, TransportError
from coagent.observability.switch import state as _obs
from coagent.transport.base import OpenStream, StreamDecoder
from coagent.transport.http.codec import decode_error_body, decode_message, encode_message
from coagent.transport.http.sse import read_events

__all__ = ["Caller"]

_JSON = {"Content-Type": "application/json"}


def _url_of(base: str, address: Address, verb: str) -> str:
    return f"{base}/v1/agents/{quote(address.name)}/sessions/{quote(address.session)}/{verb}"


class Caller:
    """Outbound calls over one aiohttp session (its connection pool is shared)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> None:
        self.session = session
        self.base = base
        self.headers = {**_JSON, **headers}
        #: Requests sent and not answered yet (streams until their end): a metric's gauge.
        self.in_flight = 0

    def _headers(self, deadline: float) -> tuple[dict[str, str], float]:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise DeadlineExceeded("the deadline passed before the call was sent")
        headers = {**self.headers, "Coagent-Timeout": f"{left:.3f}"}
        if _obs.tracing:  # the calling span (a handler's, a CLI call's) parents the gateway's
            _obs.hooks.inject(headers)
        return headers, left

    async def ask(self, address: Address, raw: RawMessage, deadline: float) -> RawMessage | None:
        status, body = await self._post(address, "call", raw, deadline,
                                        "no reply from {} before the deadline")
        if status == 200:
            return decode_message(body)
        if status == 204:
            return None
        raise decode_error_body(status, body)

    async def tell(self, address: Address, raw: RawMessage, deadline: float) -> None:
        status, body = await self._post(address, "tell", raw, deadline,
                                        "{} did not take the message before the deadline")
        if status != 202:
            raise decode_error_body(status, body)

    async def _post(self, address: Address, kind: str, raw: RawMessage, deadline: float,
                    late: str) -> tuple[int, bytes]:
        """POST ``raw`` to the address's ``kind`` endpoint; its status and body. ``late`` is the
        message of the deadline error, formatted with the address only when it is raised."""
        headers, left = self._headers(deadline)
        self.in_flight += 1
        try:
            async with asyncio.timeout(left + 1.0):  # the gateway answers 504 first
                async with self.session.post(_url_of(self.base, address, kind), data=encode_message(raw),
                                             headers=headers) as resp:
                    return resp.status, await resp.read()
        except TimeoutError:
            raise DeadlineExceeded(late.format(address), address=str(address)) from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"the gateway at {self.base} failed: {exc}") from None
        finally:
            self.in_flight -= 1

    async def open_stream(self, address: Address, raw: RawMessage, deadline: float,
                          decode: StreamDecoder | None) -> OpenStream:
        headers, left = self._headers(deadline)
        self.in_flight += 1
        try:
            opened, pumping = await self._open_stream(address, raw, headers, left, decode)
        except BaseException:
            self.in_flight -= 1
            raise
        if not pumping:
            self.in_flight -= 1
        return opened

    async def _open_stream(self, address: Address, raw: RawMessage, headers: dict[str, str],
                           left: float, decode: StreamDecoder | None) -> tuple[OpenStream, bool]:
        """The stream and whether a pump still reads it (the call is in flight until it ends)."""
        url = _url_of(self.base, address, "stream")
        try:
            async with asyncio.timeout(left + 1.0):
                resp = await self.session.post(url, data=encode_message(raw), headers=headers)
        except TimeoutError:
            raise DeadlineExceeded(f"{address} did not start its stream before the deadline",
                                   address=str(address)) from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"the gateway at {self.base} failed: {exc}") from None
        if resp.status != 200:
            try:
                body = await resp.read()
            finally:
                resp.release()
            raise decode_error_body(resp.status, body)
        chan = ReplyChannel()
        events = read_events(resp.content)
        try:
            first = await self._next(events, decode)
        except BaseException:
            resp.close()
            raise
        if first is _END:
            resp.release()
            chan.close()
            return OpenStream(chan, chan.abandon), False
        chan.put_nowait(first)
        task = asyncio.ensure_future(self._pump(resp, events, chan, decode))
        task.add_done_callback(lambda _: self._stream_done(resp))

        def cancel() -> None:
            chan.abandon()
            task.cancel()

        return OpenStream(chan, cancel), True

    async def _next(self, events: Any, decode: StreamDecoder | None) -> Any:
        """The next item of the stream, ``_END`` at its end; an ``error`` event raises."""
        try:
            event, data = await events.__anext__()
        except StopAsyncIteration:
            raise TransportError("the gateway closed the stream without its end event") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"the stream from the gateway broke: {exc}") from None
        if event == "message":
            raw = decode_message(data)
            if raw is None:
                raw = RawMessage(header={"type": ""}, content=b"")
            return decode(raw) if decode is not None else raw
        if event == "end":
            return _END
        if event == "error":
            raise decode_error_body(500, data)
        return await self._next(events, decode)  # an event of a later version: skipped

    async def _pump(self, resp: aiohttp.ClientResponse, events: Any, chan: ReplyChannel,
                    decode: StreamDecoder | None) -> None:
        try:
            while True:
                item = await self._next(events, decode)
                if item is _END:
                    chan.close()
                    return
                if not await chan.send(item):
                    return  # the consumer has gone
        except CoagentError as exc:
            chan.close(exc)
        except Exception as exc:  # a decoder's own error reaches the consumer, typed
            chan.close(exc)
        finally:
            resp.close()

    def _stream_done(self, resp: aiohttp.ClientResponse) -> None:
        # A callback, not the pump's finally: a pump cancelled before it first ran has none.
        self.in_flight -= 1
        resp.close()


_END = object()
