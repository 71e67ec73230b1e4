"""Replies: how a handler's result or stream reaches its caller.

::

    await answer(env, Pong(n=1), raw=False)          # an ask's one reply
    await serve_stream(env, handler_agen, raw=True)   # items encoded for a remote caller

A request that came as bytes (``RawMessage``) is answered in bytes; a stream served
to an ask becomes one reply, merged by the item class's ``merge_stream`` when it has
its own (text deltas joined), else the last item.
"""

from __future__ import annotations

from typing import Any

from coagent.actors.envelope import ASK, STREAM, Envelope, ExternalReply, ReplyChannel
from coagent.actors.message import Message, RawMessage

__all__ = ["answer", "serve_stream", "encode"]


async def serve_stream(env: Envelope, agen: Any, raw: bool) -> None:
    """Serve a handler's async iterator: streamed to a stream caller, merged into one
    reply for an ask (e.g. text deltas joined), drained for a tell."""
    kind = env.kind
    last = None
    try:
        if kind == STREAM:
            chan: ReplyChannel = env.reply
            async for item in agen:
                if not await chan.send(encode(item) if raw else item):
                    break  # the consumer left; the finally closes the generator
            chan.close()
        elif kind == ASK:
            # One reply from a stream: merged by the item class (e.g. text deltas joined).
            items: list[Any] | None = None
            first = True
            async for item in agen:
                if first:
                    first = False
                    if _merges(item):
                        items = []
                if items is not None:
                    items.append(item)
                last = item
            if items:
                last = type(items[-1]).merge_stream(items)
            await answer(env, last, raw)
        else:
            async for _item in agen:
                pass
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()


async def answer(env: Envelope, value: Any, raw: bool) -> None:
    """Reply to an ask (encoded if the request came as bytes); a remote sink sends it now."""
    fut = env.reply
    if not fut.done():
        fut.set_result(encode(value) if raw else value)
        if isinstance(fut, ExternalReply):
            await fut.flush()


def _merges(item: Any) -> bool:
    """Whether ``item``'s class merges streamed items itself (else the last one is the reply)."""
    merge = getattr(type(item), "merge_stream", None)
    return merge is not None and getattr(merge, "__func__", None) is not _DEFAULT_MERGE


_DEFAULT_MERGE = Message.merge_stream.__func__  # type: ignore[attr-defined]


def encode(item: Any) -> Any:
    """``item`` as bytes for a caller that sent bytes (``None`` and raw messages as they are)."""
    if item is None or item.__class__ is RawMessage:
        return item
    return item.encode()
