"""Envelopes (a message in flight) and the reply plumbing between caller and actor."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from coagent.actors.address import Address
from coagent.errors import AgentCrashed, CoagentError
from coagent.observability.switch import state as _obs

__all__ = ["Envelope", "ExternalReply", "ReplyChannel", "ReplyStream", "ASK", "TELL", "STREAM"]

TELL = 0
ASK = 1
STREAM = 2

STREAM_BUFFER = 64


class Envelope:
    """A message on its way to an actor, with where its reply goes.

    ``reply`` is a future for an ask, a :class:`ReplyChannel` for a stream and
    ``None`` for a tell. ``deadline`` is in ``loop.time()`` seconds. ``trace`` is the
    sender's OpenTelemetry context while tracing is on (the handler's span is its child).
    """

    __slots__ = ("cancelled", "deadline", "kind", "msg", "reply", "sender", "trace")

    def __init__(
        self,
        msg: Any,
        kind: int,
        reply: Any = None,
        sender: Address | None = None,
        deadline: float | None = None,
    ) -> None:
        self.msg = msg
        self.kind = kind
        self.reply = reply
        self.sender = sender
        self.deadline = deadline
        self.cancelled = False
        # Made in the sender's task, so the current context is the sender's.
        self.trace: Any = _obs.hooks.capture() if _obs.tracing else None

    def fail(self, error: BaseException) -> None:
        """Deliver ``error`` to the caller, if one is still waiting."""
        reply = self.reply
        if reply is None:
            return
        if self.kind == ASK:
            if not reply.done():
                reply.set_exception(error)
        else:
            reply.close(error)


class ExternalReply:
    """Base of reply sinks that stand for a caller in another process.

    They duck-type the caller's future (``done``, ``set_result``, ``set_exception``);
    after ``set_result`` the cell awaits :meth:`flush`, so a transport can send the
    reply from the actor's own task instead of waking another one.
    """

    __slots__ = ()

    async def flush(self) -> None:
        """Send what ``set_result`` prepared."""


class ReplyChannel:
    """A bounded single-producer, single-consumer queue of streamed replies.

    The producer (the actor) waits when ``maxsize`` items are unread, so a slow
    consumer slows the handler instead of growing memory.
    """

    __slots__ = ("_error", "_getter", "_items", "_putter", "closed", "maxsize")

    def __init__(self, maxsize: int = STREAM_BUFFER) -> None:
        self._items: deque[Any] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None
        self.closed = False
        self._error: BaseException | None = None
        self.maxsize = maxsize

    async def send(self, item: Any) -> bool:
        """Queue ``item``; return ``False`` if the consumer has gone."""
        while len(self._items) >= self.maxsize and not self.closed:
            fut = self._putter = asyncio.get_running_loop().create_future()
            try:
                await fut
            finally:
                self._putter = None
        if self.closed:
            return False
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)
        return True

    def put_nowait(self, item: Any) -> None:
        """Queue ``item`` without waiting (for producers that cannot be slowed, e.g. the network)."""
        if self.closed:
            return
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def close(self, error: BaseException | None = None) -> None:
        """End the stream, with ``error`` raised to the consumer after buffered items."""
        if self.closed:
            return
        self.closed = True
        self._error = error
        for fut in (self._getter, self._putter):
            if fut is not None and not fut.done():
                fut.set_result(None)

    def abandon(self) -> None:
        """The consumer is gone: drop buffered items and release the producer."""
        self._items.clear()
        self.close(None)

    async def get(self) -> Any:
        """The next item; ``StopAsyncIteration`` at the end, or the stream's error."""
        while True:
            items = self._items
            if items:
                item = items.popleft()
                putter = self._putter
                if putter is not None and not putter.done():
                    putter.set_result(None)
                return item
            if self.closed:
                error = self._error
                if error is not None:
                    self._error = None
                    raise error
                raise StopAsyncIteration
            fut = self._getter = asyncio.get_running_loop().create_future()
            try:
                await fut
            finally:
                self._getter = None


def as_coagent_error(exc: BaseException) -> CoagentError:
    """The error a caller sees for an exception raised by a handler."""
    if isinstance(exc, CoagentError):
        return exc
    text = str(exc)
    name = type(exc).__name__
    return AgentCrashed(f"{name}: {text}" if text else name, exc_type=name)


class ReplyStream:
    """The caller's side of a streamed call: an async iterator of replies.

    Leaving an ``async for`` loop over it early (``break``, ``return``, an exception),
    calling :meth:`aclose`, or leaving it as an async context manager cancels the
    streaming handler, wherever it runs. The recommended form says so where it happens::

        async with runtime.stream(addr, Count(n=1000)) as ticks:
            async for tick in ticks:
                if tick.i == 3:
                    break          # the handler is cancelled here, at once

    A bare ``break`` cancels it one event-loop turn later (when asyncio finalizes the
    loop's iterator); a stream is read by one loop: a second ``async for`` after a
    ``break`` ends at once.
    """

    __slots__ = ("__weakref__", "_cancel", "_chan", "_done", "_open", "_timer")

    def __init__(self, open: Any) -> None:
        self._open = open
        self._chan: ReplyChannel | None = None
        self._cancel: Any = None
        self._timer: Any = None
        self._done = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        # A generator, not ``self``: ``async for`` holds the only reference to it, so a bare
        # ``break`` drops it at once and asyncio's async-generator finalizer runs this
        # ``finally`` on the next loop turn, which cancels the handler (on another node
        # too) even while the caller still holds the stream in a variable.
        try:
            while True:
                try:
                    item = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield item
        finally:
            self._finish(cancel=True)

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration  # ended, failed or closed: nothing more will come
        chan = self._chan
        if chan is None:
            try:
                chan, self._cancel, self._timer = await self._open()
            except BaseException:
                self._done = True
                raise
            self._chan = chan
        try:
            return await chan.get()
        except StopAsyncIteration:
            self._finish(cancel=False)
            raise
        except BaseException:
            self._finish(cancel=True)
            raise

    def _finish(self, cancel: bool) -> None:
        if self._done:
            return
        self._done = True
        timer = self._timer
        if timer is not None:
            timer.cancel()
        if cancel and self._cancel is not None:
            self._cancel()

    async def aclose(self) -> None:
        """Stop consuming; cancels the handler if it is still streaming."""
        self._finish(cancel=True)

    async def __aenter__(self) -> ReplyStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._finish(cancel=True)

    def __del__(self) -> None:
        if not self._done and self._chan is not None:
            try:
                self._finish(cancel=True)
            except Exception:  # the loop may be closed at interpreter exit
                pass
