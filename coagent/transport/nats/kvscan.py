"""The latest live entry of every key of a JetStream KV bucket, complete even under load::

    records = await scan_latest(js, "coagent_state", "counter.*")
    for record in records:
        print(record.key, record.value)

Why not nats-py's ``KeyValue.keys()`` / ``watch()``: they signal "no more entries" when
consumer info says nothing is pending *and the client has received nothing yet*. That is also
true when the server has already sent every entry and they wait unread in the socket, so under
load (a load average of 9 here) a bucket of 200 keys was listed as empty. This scan decides from
the server's own count instead: nothing delivered and nothing pending means empty; otherwise it
reads until an entry says none is pending after it.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

__all__ = ["KVRecord", "scan_latest"]

_DELETED = ("DEL", "PURGE")


class KVRecord(NamedTuple):
    """One key's latest value."""

    key: str
    value: bytes
    revision: int


async def scan_latest(js: Any, bucket: str, pattern: str = ">") -> list[KVRecord]:
    """Every live key of ``bucket`` under ``pattern`` with its latest value (deleted keys,
    purges and the server's TTL markers left out). The caller bounds it with a timeout."""
    from nats.js.api import DeliverPolicy

    prefix = f"$KV.{bucket}."
    out: list[KVRecord] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_msg(msg: Any) -> None:
        headers = msg.headers or {}
        if headers.get("KV-Operation") not in _DELETED and "Nats-Marker-Reason" not in headers:
            meta = msg.metadata
            out.append(KVRecord(msg.subject[len(prefix):], msg.data, meta.sequence.stream))
        if msg.metadata.num_pending == 0 and not done.done():
            done.set_result(None)

    sub = await js.subscribe(prefix + pattern, stream=f"KV_{bucket}", cb=on_msg,
                             ordered_consumer=True, deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
    try:
        info = await sub.consumer_info()
        if info.num_pending == 0 and info.delivered.consumer_seq == 0 and not out:
            return []
        await done
        return out
    finally:
        await sub.unsubscribe()
