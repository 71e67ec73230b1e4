"""The node's NATS connection and its outbox.

::

    conn = Connection(["nats://localhost:4222"], name="node-a", connect_deadline=5.0)
    await conn.connect()                       # TransportError if no server answers in time
    conn.publish("coagent.n.node-b.echo.s1", b"{}", {"type": "Ping"})  # from sync code
    await conn.publish_now(reply, body, headers)                     # from a coroutine
    await conn.close()                         # sends what the outbox still holds

The outbox exists for replies made where nothing can await (an error reply from a
callback, a stream's end marker, a cancel): one task sends them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from coagent.errors import MessageTooLarge, RuntimeNotStarted, TransportError

__all__ = ["Connection", "publish_error", "quietly"]

log = logging.getLogger("coagent.nats")


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

    def client(self) -> Any:
        """The live nats-py client (``RuntimeNotStarted`` before ``connect`` or after ``close``)."""
        nc = self.nc
        if nc is None:
            raise RuntimeNotStarted(f"node {self.name} is not connected")
        return nc

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

    async def publish_now(self, subject: str, body: bytes, headers: dict[str, str] | None) -> bool:
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

    async def _run_outbox(self) -> None:
        outbox = self._outbox
        wakeup = self._wakeup
        while True:
            await wakeup.wait()
            wakeup.clear()
            while outbox:
                await self._send(self.nc, outbox.popleft())

    @staticmethod
    async def _send(nc: Any, item: tuple[str, bytes, dict[str, str] | None, str]) -> None:
        if nc is None:
            return
        subject, body, headers, reply = item
        try:
            await nc.publish(subject, body, reply=reply, headers=headers)
        except Exception as exc:
            log.warning("could not publish to %s: %s", subject, exc)


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
