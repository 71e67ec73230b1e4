"""Reading Server-Sent Events from an aiohttp response.

::

    async with session.post(url, json=body) as resp:
        async for event, data in read_events(resp.content):
            ...                          # ("deliver", b'{"call": ...}'); comments are skipped

Written here rather than taken from a library: the one we would use for aiohttp
(aiohttp-sse-client) is unmaintained, and the format needs only these lines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

__all__ = ["read_events"]


async def read_events(content: Any) -> AsyncIterator[tuple[str, bytes]]:
    """``(event name, data)`` for each event (``"message"`` when unnamed), until the end."""
    event = "message"
    data: list[bytes] = []
    while True:
        line = await content.readline()
        if not line:
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(b":"):
            continue  # a comment: the gateway's heartbeat
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace")
