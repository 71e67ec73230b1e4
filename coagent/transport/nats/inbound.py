"""Inbound delivery: our subscriptions' handlers run straight from nats-py's read loop.

::

    inbound = Inbound(nc)                              # once per connection
    sub = await inbound.subscribe("coagent.n.node-a.>", on_msg)
    # on_msg(subject, reply, data, headers) runs for each message, in order, synchronously
    await inbound.unsubscribe(sub)

A handler is a plain function of ``(subject, reply, data, headers)`` (``headers`` is
``None`` or a fresh dict): it must not block, and it hands anything slow to a task of
its own (the serving side queues envelopes on cells; the caller side resolves futures).

Why not ``nc.subscribe(subject, cb=...)`` alone: nats-py parses each header block, builds
a ``Msg``, puts it on the subscription's ``asyncio.Queue`` and wakes the subscription's
task, which awaits the callback coroutine. Measured on uvloop on the loaded 2-core
project machine, the serving side's CPU per call with 100 busy sessions (bytes fed to
nats-py's parser in process, replies to a real server; best of 15): 16.6-17.4 us through
nats-py's subscriptions, 14.1-14.2 us with this (a plain nats-py responder: 5.8 us), and
the 100-session figure of ``benchmarks/nats.py`` counts both ends of each call.
What this does instead: it replaces the connection's
``_process_msg`` (which nats-py's parser awaits for every ``MSG``/``HMSG``) with one that,
for the subscriptions made here, parses the header block itself (each distinct block
once, cached) and calls the handler; every other subscription (JetStream, KV watchers,
discovery's inboxes) goes through nats-py's own ``_process_msg`` untouched. The
subscription is still a real nats-py ``Subscription`` (re-sent on reconnect, unsubscribed
the usual way), made with a callback that calls the same handler: on a nats-py without
the internals used here (checked once per connection) delivery goes through it, and a
test pins the parsed headers to nats-py's own for the same bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Inbound", "Handler", "MessageParser", "parse_header_block"]

log = logging.getLogger("coagent.nats")

#: ``handler(subject, reply, data, headers)``; ``headers`` is ``None`` or a dict the handler owns.
Handler = Callable[[str, str, bytes, "dict[str, str] | None"], None]

# What the direct path relies on: present in nats-py 2.x.
_INTERNALS = ("_process_msg", "_process_headers", "_subs", "_sid", "stats")
_PLAIN = b"NATS/1.0\r\n"  # a header block without an inline status (a status goes to nats-py)
_CRLF = b"\r\n"
_parsed: dict[bytes, dict[str, str]] = {}
# nats.protocol.parser's state and line limit (MessageParser checks them: nats-py loads lazily).
_AWAITING_CONTROL_LINE = 1
_MAX_CONTROL_LINE = 4096
_PARSED_MAX = 4096


def parse_header_block(block: bytes) -> dict[str, str] | None:
    """The headers of a ``NATS/1.0`` block without an inline status, as nats-py parses them.

    Each distinct block is parsed once (a service's replies repeat a few blocks); the dict
    returned is a copy the caller may change. ``None`` for a block with no header.
    """
    cached = _parsed.get(block)
    if cached is None:
        cached = {}
        # The rules of nats-py's _parse_header_lines: split on ":" and strip; skip lines
        # without one, names that are not ASCII or hold whitespace.
        for line in block[len(_PLAIN):].split(_CRLF):
            name, sep, value = line.partition(b":")
            if not sep:
                continue
            try:
                key = name.strip().decode("ascii")
            except UnicodeDecodeError:
                continue
            if any(c.isspace() for c in key):
                continue
            cached[key] = value.strip().decode("utf-8", "replace")
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()  # e.g. a deadline in every request: start over rather than grow
        _parsed[block] = cached
    return cached.copy() if cached else None


class Inbound:
    """Subscriptions whose handlers nats-py's read loop calls directly (see the module)."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self._handlers: dict[int, Handler] = {}
        self.direct = all(hasattr(nc, name) for name in _INTERNALS)
        if self.direct:
            self._original = nc._process_msg
            nc._process_msg = self._process_msg
            ps: Any = getattr(nc, "_ps", None)
            if MessageParser.fits(ps):
                ps.parse = MessageParser(ps, self)

    async def subscribe(self, subject: str, handler: Handler, *, queue: str = "") -> Any:
        """Subscribe ``handler`` to ``subject`` (in queue group ``queue``); the nats-py subscription."""
        nc = self.nc

        async def through_nats_py(msg: Any) -> None:
            handler(msg.subject, msg.reply, msg.data, msg.headers)

        if not self.direct:
            return await nc.subscribe(subject, queue=queue, cb=through_nats_py)
        # nats-py numbers the subscription before its first await, and no message can
        # arrive before the server has the SUB: registered first, no message is missed.
        sid = nc._sid + 1
        self._handlers[sid] = handler
        try:
            sub = await nc.subscribe(subject, queue=queue, cb=through_nats_py)
        except BaseException:
            self._handlers.pop(sid, None)
            raise
        if sub._id != sid:  # a nats-py that numbers differently: deliver through it instead
            self._handlers.pop(sid, None)
        return sub

    async def unsubscribe(self, sub: Any) -> None:
        """Unsubscribe ``sub`` (errors of a closed connection ignored)."""
        self._handlers.pop(getattr(sub, "_id", None), None)  # type: ignore[arg-type]
        try:
            await sub.unsubscribe()
        except Exception as exc:
            log.debug("unsubscribe: %s", exc)

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes,
                           headers: bytes | None) -> None:
        handler = self._handlers.get(sid)
        if handler is None:
            await self._original(sid, subject, reply, data, headers)
            return
        if headers and not headers.startswith(_PLAIN):
            # An inline status (e.g. no responders): nats-py's own parsing.
            self.deliver(handler, sid, subject, reply, data, await self.nc._process_headers(headers))
            return
        self.deliver(handler, sid, subject, reply, data,
                     parse_header_block(headers) if headers else None)

    def deliver(self, handler: Handler, sid: int, subject: bytes, reply: bytes, data: bytes,
                headers: dict[str, str] | None) -> None:
        """Hand one message of subscription ``sid`` to its ``handler`` (the direct path)."""
        nc = self.nc
        sub = nc._subs.get(sid)
        if sub is None:
            return  # unsubscribed while its messages were in flight (nats-py drops them too)
        sub._received += 1
        stats = nc.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        try:
            handler(subject.decode(), reply.decode(), data, headers)
        except Exception:
            # The read loop must go on whatever a handler does.
            log.exception("handling a message on %s failed", subject.decode(errors="replace"))


class MessageParser:
    """nats-py's protocol parser, with ``MSG`` and ``HMSG`` read without regular expressions.

    Installed as ``parser.parse`` of one connection: at the head of the buffer it takes
    whole ``MSG``/``HMSG`` commands itself (a command whose payload has not all arrived
    waits, as nats-py's does), and leaves anything else (``PING``, ``INFO``, ``-ERR``, a
    malformed line, nats-py's own half-read state) with what follows to nats-py's
    ``parse``. Why: nats-py tries two regular expressions per message (``MSG`` first,
    then ``HMSG``) and keeps its arguments in a dict between two passes of its loop; fed
    the same 100-message ``HMSG`` batches, this reads one in 1.44 us (the handing on
    included) against nats-py's 2.2-2.3 us (uvloop, 2-core project machine at load 1-2). A test feeds both the same streams
    split at every point and compares what they hand on.
    """

    __slots__ = ("_original", "inbound", "ps")

    def __init__(self, ps: Any, inbound: Inbound | None = None) -> None:
        self.ps = ps
        self._original = ps.parse
        # Messages of ``inbound``'s subscriptions (without an inline status) are handed on
        # without the coroutine of an awaited _process_msg (0.3 us each).
        self.inbound = inbound

    @staticmethod
    def fits(ps: Any) -> bool:
        """Whether ``ps`` is the nats-py parser this reads for (its state names and limits)."""
        from nats.protocol import parser

        return (all(hasattr(ps, name) for name in ("parse", "buf", "state", "nc"))
                and parser.AWAITING_CONTROL_LINE == _AWAITING_CONTROL_LINE
                and parser.MAX_CONTROL_LINE_SIZE == _MAX_CONTROL_LINE)

    async def __call__(self, data: bytes = b"") -> None:
        ps = self.ps
        buf = ps.buf
        buf.extend(data)
        process = ps.nc._process_msg
        inbound = self.inbound
        while buf and ps.state == _AWAITING_CONTROL_LINE:
            if buf.startswith(b"HMSG "):
                start = 5
            elif buf.startswith(b"MSG "):
                start = 4
            else:
                break
            end = buf.find(_CRLF)
            if end < 0:
                if len(buf) < _MAX_CONTROL_LINE:
                    return  # the rest of the line is on its way
                break
            args = bytes(buf[start:end]).split()
            if start == 5:
                if len(args) == 5:
                    subject, sid, reply, hsize, size = args
                elif len(args) == 4:
                    subject, sid, hsize, size = args
                    reply = b""
                else:
                    break
                if not (hsize.isdigit() and size.isdigit() and sid.isdigit()):
                    break
                head = int(hsize)
            else:
                if len(args) == 4:
                    subject, sid, reply, size = args
                elif len(args) == 3:
                    subject, sid, size = args
                    reply = b""
                else:
                    break
                if not (size.isdigit() and sid.isdigit()):
                    break
                head = 0
            first = end + 2
            stop = first + int(size)
            if head > stop - first:
                break
            if len(buf) < stop + 2:
                return  # the payload is on its way: this line is read again then
            if head:
                headers: bytes | None = bytes(buf[first:first + head])
                payload = bytes(buf[first + head:stop])
            else:
                headers = None
                payload = bytes(buf[first:stop])
            del buf[:stop + 2]
            number = int(sid)
            if inbound is not None:
                handler = inbound._handlers.get(number)
                if handler is not None and (headers is None or headers.startswith(_PLAIN)):
                    inbound.deliver(handler, number, subject, reply, payload,
                                    parse_header_block(headers) if headers else None)
                    continue
            await process(number, subject, reply, payload, headers)
        if buf:
            await self._original()
