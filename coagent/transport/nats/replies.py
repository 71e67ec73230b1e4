"""Reply sinks of served calls: they stand in, on this node, for a caller on another node.

::

    sink = RemoteReply(serving, reply_subject, owner=True)
    env = Envelope(raw, ASK, sink, sender, deadline)       # the cell answers into the sink
    # -> one message to reply_subject: `type`, `owner` headers and the reply body

A ``RemoteStream`` sends each item with its ``seq`` and ends with an ``end`` or ``error``
marker (``docs/wire.md``).
"""

from __future__ import annotations

import logging
from typing import Protocol

from coagent.actors.envelope import ExternalReply
from coagent.actors.message import RawMessage
from coagent.errors import MessageTooLarge
from coagent.transport.nats.connection import Connection
from coagent.transport.wire import END_MARKER, H_END, H_ERROR, H_OWNER, H_SEQ, H_TYPE, encode_error

__all__ = ["RemoteReply", "RemoteStream", "ServingSide"]

log = logging.getLogger("coagent.nats")


class ServingSide(Protocol):
    """What a sink needs from the serving side (``Serving``)."""

    conn: Connection
    node_name: str
    debug: bool

    def finished(self, reply: str) -> None:
        """The call answered on ``reply`` is no longer in flight."""

    def reply_error(self, reply: str | None, exc: BaseException) -> None:
        """Send ``exc`` as an error reply."""

    def reply_head(self, type_name: str, owner: bool) -> tuple[dict[str, str], bytes]:
        """The (shared) headers of a reply of ``type_name`` and their encoded block."""


class RemoteReply(ExternalReply):
    """Stands in for the caller's future when the caller is on another node."""

    __slots__ = ("_done", "_out", "owner", "reply", "sv")

    def __init__(self, sv: ServingSide, reply: str | None, owner: bool) -> None:
        self.sv = sv
        self.reply = reply
        self.owner = owner  # tell the caller who serves the session (it came via the queue group)
        self._done = False
        self._out: tuple[str, bytes, dict[str, str] | None, bytes | None] | None = None

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
        sv = self.sv
        sv.finished(reply)
        if raw is None:
            self._out = (reply, b"", {H_OWNER: sv.node_name} if self.owner else None, None)
        else:
            headers, block = sv.reply_head(raw.header.get("type", ""), self.owner)
            self._out = (reply, raw.content, headers, block)

    async def flush(self) -> None:
        out, self._out = self._out, None
        if out is not None and not await self.sv.conn.publish_now(*out):
            self.sv.reply_error(self.reply, MessageTooLarge(
                f"the reply ({len(out[1])} bytes) is larger than the server allows",
            ))

    def set_exception(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done = True
        if self.reply is not None:
            self.sv.finished(self.reply)
        self.sv.reply_error(self.reply, exc)

    def abandon(self) -> None:
        self._done = True


class RemoteStream:
    """Stands in for the caller's ``ReplyChannel`` when the caller is on another node."""

    __slots__ = ("closed", "owner", "reply", "seq", "sv")

    def __init__(self, sv: ServingSide, reply: str | None, owner: bool) -> None:
        self.sv = sv
        self.reply = reply
        self.owner = owner
        self.closed = False
        self.seq = 0

    def _headers(self) -> dict[str, str]:
        self.seq += 1
        headers = {H_SEQ: str(self.seq)}
        if self.owner and self.seq == 1:
            headers[H_OWNER] = self.sv.node_name
        return headers

    async def send(self, raw: RawMessage) -> bool:
        if self.closed:
            return False
        if self.reply is not None:
            headers = self._headers()
            headers[H_TYPE] = raw.header.get("type", "")
            if not await self.sv.conn.publish_now(self.reply, raw.content, headers):
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
        self.sv.finished(self.reply)
        headers = self._headers()
        if error is None:
            headers[H_END] = END_MARKER
            self.sv.conn.publish(self.reply, b"", headers)
        else:
            code, body = encode_error(error, debug=self.sv.debug)
            headers[H_ERROR] = code
            self.sv.conn.publish(self.reply, body, headers)

    def abandon(self) -> None:
        self.closed = True
