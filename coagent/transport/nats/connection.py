"""The node's NATS connection and its outbox.

::

    conn = Connection(["nats://localhost:4222"], name="node-a", connect_deadline=5.0)
    await conn.connect()                       # TransportError if no server answers in time
    conn.publish("coagent.n.node-b.echo.s1", b"{}", {"type": "Ping"})  # from sync code
    await conn.publish_now(reply, body, headers)                     # from a coroutine
    await conn.close()                         # sends what the outbox still holds

The outbox exists for replies made where nothing can await (an error reply from a
callback, a stream's end marker, a cancel): one task sends them in order.

Every publish goes through :meth:`Connection.send`, which writes the ``PUB``/``HPUB``
command into nats-py's pending buffer itself, with each distinct header block encoded
once and cached (the wire bytes are the same as ``nc.publish``'s; a test compares
them). Why not ``nc.publish``: it validates both subjects with a regex, and encodes
every header key and value on each call: 3.8 us per publish with one header against
0.9-1.6 us here on the loaded 2-core project machine (``benchmarks/nats_libs.py``,
"publish": 2.4x the publishes/s), and each call of the 100-session benchmark
publishes twice (request and reply). Our subjects are built from validated
addresses or taken from the server's own ``MSG`` lines, so they need no second
check. Whatever the fast path does not cover (not connected: nats-py's reconnect buffering; a payload over ``max_payload``;
a nats-py without the internals it writes to) goes through ``nc.publish``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from coagent.errors import MessageTooLarge, RuntimeNotStarted, TransportError
from coagent.transport.nats.inbound import Inbound

__all__ = ["Connection", "publish_error", "quietly", "header_block", "has_fast_path",
           "write_pending"]

log = logging.getLogger("coagent.nats")

# What the fast path writes to: present in nats-py 2.x (checked once per connection).
_INTERNALS = ("_pending", "_pending_data_size", "_flush_queue", "_flush_pending",
              "_max_pending_size", "_max_payload", "_status", "stats")
_CONNECTED = 1  # nats.aio.client.Client.CONNECTED
# The header rules of nats-py's publish: keys as RFC 7230 tokens, no line breaks in values.
_HEADER_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_blocks: dict[tuple[tuple[str, str], ...], bytes] = {}
_BLOCKS_MAX = 4096


def header_block(headers: dict[str, str]) -> bytes:
    """The ``NATS/1.0`` header block of ``headers``, as nats-py encodes it (cached).

    Raises nats-py's ``BadHeaderError`` for a key that is not a header token.
    """
    key = tuple(headers.items())
    block = _blocks.get(key)
    if block is None:
        lines = [b"NATS/1.0\r\n"]
        for name, value in key:
            name = name.strip()
            if not name:
                continue
            if not _HEADER_KEY.fullmatch(name):
                from nats.errors import BadHeaderError

                raise BadHeaderError(name)
            lines.append(f"{name}: {value.strip().translate(_NEWLINES)}\r\n".encode())
        lines.append(b"\r\n")
        block = b"".join(lines)
        if len(_blocks) >= _BLOCKS_MAX:
            _blocks.clear()  # e.g. many distinct timeouts: start over rather than grow
        _blocks[key] = block
    return block


class Connection:
    """One nats-py connection with a bounded first connect and an ordered outbox."""

    def __init__(self, servers: list[str], *, name: str, connect_deadline: float = 5.0,
                 on_reconnected: Callable[[], Awaitable[None]] | None = None,
                 **options: Any) -> None:
        self.servers = servers
        self.name = name
        self.connect_deadline = connect_deadline
        self.options = options
        self.on_reconnected = on_reconnected
        self.nc: Any = None
        self.last_error: BaseException | None = None
        self.running = False
        self._outbox: deque[tuple[str, bytes, dict[str, str] | None, str]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fast = False
        self._inbound: Inbound | None = None

    def client(self) -> Any:
        """The live nats-py client (``RuntimeNotStarted`` before ``connect`` or after ``close``)."""
        nc = self.nc
        if nc is None:
            raise RuntimeNotStarted(f"node {self.name} is not connected")
        return nc

    @property
    def inbound(self) -> Inbound:
        """Subscriptions whose handlers run from the read loop (``RuntimeNotStarted`` before ``connect``)."""
        inbound = self._inbound
        if inbound is None:
            raise RuntimeNotStarted(f"node {self.name} is not connected")
        return inbound

    async def connect(self) -> Any:
        import nats
        from nats.errors import Error as NatsError
        from nats.errors import NoServersError

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
            **self.options,
        }
        self.last_error = None
        try:
            # nats-py retries the first connection as often as later reconnections (forever
            # for a node): bound it, so that a missing server is one clear error.
            async with asyncio.timeout(self.connect_deadline):
                self.nc = await nats.connect(**options)
        except (NoServersError, NatsError, OSError, ValueError, TimeoutError) as exc:
            reason = str(self.last_error or "") or str(exc) or f"no answer within {self.connect_deadline:g}s"
            raise TransportError(f"cannot connect to NATS at {', '.join(self.servers)}: {reason}") from None
        self.running = True
        self._fast = has_fast_path(self.nc)
        self._inbound = Inbound(self.nc)
        self._task = asyncio.get_running_loop().create_task(self._run_outbox())
        return self.nc

    async def close(self) -> None:
        """Send the outbox, flush and close (idempotent)."""
        self.running = False
        nc, self.nc = self.nc, None
        if nc is None:
            return
        while self._outbox:
            await self._send(nc, self._outbox.popleft())
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await quietly(nc.flush(timeout=1))
        await quietly(nc.close())

    # -------------------------------------------------------------- callbacks

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = exc  # shown if the first connection fails (e.g. authorization)
        log.debug("nats: %s", exc)

    async def _on_disconnected(self) -> None:
        if self.running:
            log.warning("node %s lost its NATS connection; reconnecting", self.name)

    async def _on_reconnected(self) -> None:
        log.warning("node %s reconnected to NATS", self.name)
        if self.on_reconnected is not None:
            await self.on_reconnected()

    # ------------------------------------------------------------- publishing

    def publish(self, subject: str, body: bytes, headers: dict[str, str] | None,
                reply: str = "") -> None:
        """Queue a message for the outbox task (from code that cannot await)."""
        self._outbox.append((subject, body, headers, reply))
        self._wakeup.set()

    async def send(self, nc: Any, subject: str, body: bytes, reply: str = "",
                   headers: dict[str, str] | None = None, block: bytes | None = None) -> None:
        """Publish on ``nc`` (raises what ``nc.publish`` raises); see the module for why.

        ``block``, if given, is ``header_block(headers)`` made beforehand.
        """
        if self._fast and nc._status == _CONNECTED and subject and len(body) <= nc._max_payload:
            if headers:
                hdr = block or header_block(headers)
                size = len(hdr)
                cmd = b"".join((f"HPUB {subject} {reply} {size} {size + len(body)}\r\n".encode(),
                                hdr, body, b"\r\n"))
            else:
                cmd = b"".join((f"PUB {subject} {reply} {len(body)}\r\n".encode(), body, b"\r\n"))
            await write_pending(nc, cmd, 1, len(body))
            return
        await nc.publish(subject, body, reply=reply, headers=headers or None)

    async def publish_now(self, subject: str, body: bytes, headers: dict[str, str] | None,
                          block: bytes | None = None) -> bool:
        """Publish from the calling task; ``False`` if the payload is too large to send."""
        nc = self.nc
        if nc is None:
            return True
        try:
            await self.send(nc, subject, body, "", headers, block)
        except Exception as exc:
            from nats.errors import MaxPayloadError

            if isinstance(exc, MaxPayloadError):
                return False
            log.warning("could not publish to %s: %s", subject, exc)
        return True

    async def _run_outbox(self) -> None:
        outbox = self._outbox
        wakeup = self._wakeup
        while True:
            await wakeup.wait()
            wakeup.clear()
            while outbox:
                await self._send(self.nc, outbox.popleft())

    async def _send(self, nc: Any, item: tuple[str, bytes, dict[str, str] | None, str]) -> None:
        if nc is None:
            return
        subject, body, headers, reply = item
        try:
            await self.send(nc, subject, body, reply, headers)
        except Exception as exc:
            log.warning("could not publish to %s: %s", subject, exc)


def has_fast_path(nc: Any) -> bool:
    """Whether ``nc`` has the nats-py internals that :func:`write_pending` writes to."""
    return all(hasattr(nc, name) for name in _INTERNALS)


async def write_pending(nc: Any, cmd: bytes, msgs: int, body_bytes: int) -> None:
    """Append ready ``PUB``/``HPUB`` commands (``msgs`` of them) to nats-py's pending buffer
    and wake its flusher, as ``nc.publish`` does; only where :func:`has_fast_path` and
    ``nc`` is connected (the caller checks both)."""
    nc._pending.append(cmd)
    pending = nc._pending_data_size + len(cmd)
    nc._pending_data_size = pending
    stats = nc.stats
    stats["out_msgs"] += msgs
    stats["out_bytes"] += body_bytes
    if 0 < nc._max_pending_size < pending:
        await nc._flush_pending(force_flush=True)
    elif nc._flush_queue.empty():
        await nc._flush_pending()  # wakes nats-py's flusher: one write per loop turn


def publish_error(exc: BaseException) -> BaseException:
    """A typed error for a failed publish (cancellation and our own errors pass through)."""
    from nats.errors import MaxPayloadError

    from coagent.errors import CoagentError

    if isinstance(exc, (asyncio.CancelledError, CoagentError)):
        return exc
    if isinstance(exc, MaxPayloadError):
        return MessageTooLarge("the message is larger than the NATS server allows (max_payload)")
    return TransportError(f"{type(exc).__name__}: {exc}")


async def quietly(awaitable: Any) -> None:
    """Await ``awaitable``, ignoring its errors (cleanup on the way out)."""
    with contextlib.suppress(Exception):
        await awaitable
