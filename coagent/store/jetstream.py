"""``JetStreamStore``: durable sessions of a ``NATSRuntime`` cluster, in JetStream KV (file storage).

::

    nc = await nats.connect("nats://localhost:4222")
    store = JetStreamStore(nc, dedup_window=6 * 3600)   # NATSRuntime makes one on its connection
    await store.open()

Four buckets under ``prefix`` (default ``coagent``; ``<prefix>_sessions`` is the
transport's claims bucket):

- ``<prefix>_state``: one key per session, ``<type>.<session>``: its state, applied ids
  and last reply (msgpack), written in one put;
- ``<prefix>_inbox``: ``i.<type>.<session>.<msg id>`` for each accepted message not yet
  acknowledged, and ``d.<type>.<session>.<msg id>`` for each one acknowledged (or
  dead-lettered) in the last ``dedup_window`` seconds (a per-message TTL);
- ``<prefix>_dead`` (dead letters) and ``<prefix>_meta`` (durable types).

An enqueue is one publish whose expected-last-sequence check covers both the ``i.``
and the ``d.`` key of its id (``*.<type>.<session>.<msg id>``), so a sender's retry is
refused while the message is pending and for ``dedup_window`` after it was applied,
and the markers are never part of a scan of the inbox (``pending`` reads ``i.`` keys
only). An acknowledgement writes the marker and replaces the inbox entry by a deletion
that expires a second later; both trail the loop turn (``Publisher.trail``), so one
PubAck confirms the acknowledgements of many sessions. Each key part is kept as it is
when it is a plain token, else written ``=<base64url>``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from coagent.errors import StoreError
from coagent.store.base import DeadLetter, InboxEntry, SessionInfo, StoredSession
from coagent.store.jspublish import Message, Publisher, static_headers

__all__ = ["JetStreamStore", "DEDUP_WINDOW"]

_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,200}")

#: Default seconds an accepted message id is remembered after it was applied, so that a
#: sender's retry is refused (the SQLite store keeps its ids as long). Each id costs the
#: server one small stored message for that long; lower it for a sustained high rate.
DEDUP_WINDOW = 24 * 3600.0

#: Seconds one scan of a bucket (``pending``, ``sessions``) may take before ``StoreError``.
SCAN_TIMEOUT = 30.0

#: Largest state (bytes) written as a trailing write; a larger one waits for its own PubAck.
TRAIL_MAX = 64 * 1024

#: The oldest nats-server with per-message TTLs.
MIN_SERVER = (2, 11)


def _part(text: str) -> str:
    if _PLAIN.fullmatch(text):
        return text
    return "=" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


_prefixes: dict[tuple[str, str], str] = {}


def _prefix(type_name: str, session: str) -> str:
    """``<type>.<session>`` as key parts (cached: every write of a session names it)."""
    key = (type_name, session)
    found = _prefixes.get(key)
    if found is None:
        if len(_prefixes) >= 100_000:
            _prefixes.clear()
        found = _prefixes[key] = f"{_part(type_name)}.{_part(session)}"
    return found


def _unpart(part: str) -> str:
    if not part.startswith("="):
        return part
    raw = part[1:]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()


class _Inbox(msgspec.Struct, array_like=True):
    header: dict[str, str]
    content: bytes
    enqueued: float
    touched: float
    deliveries: int = 0


class _Record(msgspec.Struct, array_like=True):
    """A session's stored record: the applied ids are written as their common start
    (``stem``) and what follows it, since ids from one sender share a long prefix (the
    runtime's are 16 hex digits and a counter): 64 ids take ~350 bytes instead of ~1,400."""

    type: str
    session: str
    state: bytes
    stem: str
    applied: list[str]
    applied_count: int
    updated: float
    reply_id: str = ""
    reply: bytes = b""


def _encode_record(type_name: str, session: str, state: bytes, applied: list[str],
                   applied_count: int, reply_id: str, reply: bytes) -> bytes:
    # A character-wise common prefix is what is wanted here (ids, not paths).
    stem = os.path.commonprefix(applied) if len(applied) > 1 else ""  # noqa: RUF071
    n = len(stem)
    return _enc.encode(_Record(type_name, session, state, stem,
                               [i[n:] for i in applied] if n else applied, applied_count,
                               time.time(), reply_id, reply))


def _decode_record(data: bytes) -> StoredSession:
    r = _record_dec.decode(data)
    stem = r.stem
    applied = [stem + i for i in r.applied] if stem else r.applied
    return StoredSession(r.type, r.session, r.state, applied, r.applied_count, r.updated,
                         r.reply_id, r.reply)


_enc = msgspec.msgpack.Encoder()
_record_dec = msgspec.msgpack.Decoder(_Record)
_inbox_dec = msgspec.msgpack.Decoder(_Inbox)
_dead_dec = msgspec.msgpack.Decoder(DeadLetter)

#: The headers of an inbox entry's acknowledgement: a deletion that is gone a second later.
_GONE = static_headers({"KV-Operation": "DEL", "Nats-TTL": "1"})

_seen: dict[int, dict[str, str]] = {}


def _seen_headers(window: int) -> dict[str, str]:
    """The headers of an applied-id marker that lives ``window`` seconds (one per window)."""
    found = _seen.get(window)
    if found is None:
        found = _seen[window] = static_headers({"Nats-TTL": str(window)})
    return found


class JetStreamStore:
    """A :class:`~coagent.store.base.StateStore` in JetStream key-value buckets.

    Args:
        nc: a connected nats-py client (the store does not close it).
        prefix: bucket name prefix, shared by the cluster.
        replicas: JetStream replicas of each bucket (1 on a single server).
        timeout: seconds one JetStream request may take.
        dedup_window: seconds a sender's retry of an applied message is still refused
            (whole seconds, at least 1; every node of a cluster should use the same).
    """

    #: Two buckets cannot be written in one transaction: the caller acknowledges after ``save``.
    atomic_ack = False

    def __init__(self, nc: Any, *, prefix: str = "coagent", replicas: int = 1,
                 timeout: float = 5.0, dedup_window: float = DEDUP_WINDOW) -> None:
        if not _PLAIN.fullmatch(prefix):
            raise ValueError(f"prefix must be a plain token, got {prefix!r}")
        if dedup_window < 1:
            raise ValueError(f"dedup_window must be at least 1 second, got {dedup_window!r}")
        self.nc = nc
        self.prefix = prefix
        self.replicas = replicas
        self.timeout = timeout
        self.dedup_window = dedup_window
        self._kv: dict[str, Any] = {}
        self._js: Any = None
        self._pub = Publisher(nc, timeout)
        self._state_subj = f"$KV.{prefix}_state."
        self._subj = f"$KV.{prefix}_inbox."
        self._state_stream = f"KV_{prefix}_state"
        self._inbox_stream = f"KV_{prefix}_inbox"
        self._seen = _seen_headers(int(dedup_window))
        self._trailing = False

    def __repr__(self) -> str:
        return f"JetStreamStore(prefix={self.prefix!r})"

    async def open(self) -> None:
        if self._kv:
            return
        version = self.nc.connected_server_version
        if (version.major, version.minor) < MIN_SERVER:
            raise StoreError(f"the JetStream store needs nats-server {MIN_SERVER[0]}.{MIN_SERVER[1]}"
                             f" or later (per-message TTLs); this one is {version}")
        js = self._js = self.nc.jetstream(timeout=self.timeout)
        try:
            for name in ("state", "inbox", "dead", "meta"):
                self._kv[name] = await self._open_bucket(js, f"{self.prefix}_{name}")
            # Whatever replicas this node asked for, the buckets have what their creator set.
            replicas = [(await js.stream_info(f"KV_{self.prefix}_{name}")).config.num_replicas
                        for name in ("state", "inbox")]
            self._trailing = all((r or 1) == 1 for r in replicas)
            await self._pub.start()
        except Exception as exc:
            self._kv.clear()
            raise StoreError(f"cannot open the JetStream store: {exc}") from exc

    async def _open_bucket(self, js: Any, bucket: str) -> Any:
        from nats.js.api import KeyValueConfig, StorageType
        from nats.js.errors import BucketNotFoundError

        try:
            return await js.key_value(bucket)
        except BucketNotFoundError:
            try:
                return await js.create_key_value(KeyValueConfig(
                    bucket=bucket, history=1, storage=StorageType.FILE, replicas=self.replicas,
                    description=f"coagent durable {bucket.rpartition('_')[2]}",
                ))
            except Exception:
                return await js.key_value(bucket)  # another node created it first

    async def close(self) -> None:
        self._kv.clear()
        await self._pub.stop()

    def _bucket(self, name: str) -> Any:
        kv = self._kv.get(name)
        if kv is None:
            raise StoreError("the JetStream store is not open")
        if not self.nc.is_connected:
            # Fail at once while the server is away (a tell is refused, not held for the
            # request timeout); nats-py reconnects, and the next call goes through.
            raise StoreError("the JetStream store is not reachable: NATS is disconnected")
        return kv

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc

    async def _get(self, name: str, key: str) -> Any:
        """Bucket ``name``'s entry at ``key``, ``None`` if it has none (or a deletion)."""
        from nats.js.errors import NotFoundError

        kv = self._bucket(name)
        try:
            entry = await kv.get(key)
        except NotFoundError:
            return None
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc
        return entry if entry.value else None

    async def _scan(self, name: str, pattern: str = ">") -> list[Any]:
        """The live entries of a bucket under ``pattern`` (deleted keys left out)."""
        from coagent.transport.nats.kvscan import scan_latest

        self._bucket(name)  # open and connected
        try:
            async with asyncio.timeout(SCAN_TIMEOUT):
                return await scan_latest(self._js, f"{self.prefix}_{name}", pattern)
        except TimeoutError:
            raise StoreError(f"scanning the {name} bucket took over {SCAN_TIMEOUT}s") from None
        except Exception as exc:
            raise StoreError(f"scanning the {name} bucket failed: {exc!r}") from exc

    def _acks(self, key: str) -> list[Message]:
        """The two writes that acknowledge inbox message ``key`` (``<type>.<session>.<id>``):
        its id remembered for the dedup window, its inbox entry gone."""
        return [(f"{self._subj}d.{key}", b"", self._seen), (f"{self._subj}i.{key}", b"", _GONE)]

    # ------------------------------------------------------------ sessions

    async def load(self, type_name: str, session: str) -> StoredSession | None:
        entry = await self._get("state", _prefix(type_name, session))
        return None if entry is None else _decode_record(entry.value)

    async def save(self, type_name: str, session: str, state: bytes, applied: list[str],
                   applied_count: int | None = None, reply_id: str = "",
                   reply: bytes = b"", ack: Sequence[str] = ()) -> None:
        if applied_count is None:
            old = await self.load(type_name, session)
            applied_count = (old.applied_count if old else 0) + 1
        self._bucket("state")
        subject = f"{self._state_subj}{_prefix(type_name, session)}"
        payload = _encode_record(type_name, session, state, applied, applied_count, reply_id,
                                 reply)
        if self._trailing and len(payload) <= TRAIL_MAX:
            await self._pub.trail(self._state_stream, [(subject, payload, {})])
            return
        answer = await self._pub.publish(subject, payload)
        if answer.error is not None:  # the put carries no check: not expected
            raise StoreError(f"JetStream store write refused: {answer.error.description}")

    async def delete(self, type_name: str, session: str) -> bool:
        prefix = _prefix(type_name, session)
        found = await self.load(type_name, session) is not None
        inbox = [e for e in await self._scan("inbox", f"i.{prefix}.*") if e.value]
        for entry in inbox:  # the d. markers stay: a retry of these ids is still refused
            await self._call(self._bucket("inbox").delete(entry.key))
        if found:
            await self._call(self._bucket("state").delete(prefix))
        return found or bool(inbox)

    async def sessions(self, type_name: str | None = None) -> list[SessionInfo]:
        pattern = f"{_part(type_name)}.*" if type_name is not None else ">"
        pending: dict[tuple[str, str], int] = {}
        inbox_pattern = f"i.{_part(type_name)}.*.*" if type_name is not None else "i.>"
        for _touched, e in await self._scan_pending(inbox_pattern):
            pending[e.type, e.session] = pending.get((e.type, e.session), 0) + 1
        out = []
        for entry in await self._scan("state", pattern):
            if not entry.value:
                continue
            rec = _decode_record(entry.value)
            out.append(SessionInfo(rec.type, rec.session, len(rec.state), rec.updated,
                                   rec.applied_count, pending.get((rec.type, rec.session), 0)))
        out.sort(key=lambda i: (i.type, i.session))
        return out

    # --------------------------------------------------------------- inbox

    @staticmethod
    def _key(type_name: str, session: str, msg_id: str) -> str:
        return f"{_prefix(type_name, session)}.{_part(msg_id)}"

    async def enqueue(self, entry: InboxEntry) -> bool:
        value = _enc.encode(_Inbox(entry.header, entry.content, entry.enqueued, entry.enqueued,
                                   entry.deliveries))
        key = self._key(entry.type, entry.session, entry.msg_id)
        self._bucket("inbox")
        # Refused if either the pending entry or the applied-id marker of this id exists.
        ack = await self._pub.publish(f"{self._subj}i.{key}", value, {
            "Nats-Expected-Last-Subject-Sequence": "0",
            "Nats-Expected-Last-Subject-Sequence-Subject": f"{self._subj}*.{key}",
        })
        return ack.error is None

    async def ack(self, type_name: str, session: str, msg_id: str) -> None:
        await self._remove(self._key(type_name, session, msg_id))

    async def _remove(self, key: str) -> None:
        """Out of the inbox, and its id remembered for the dedup window."""
        self._bucket("inbox")
        if self._trailing:
            await self._pub.trail(self._inbox_stream, self._acks(key))
            return
        answer = await self._pub.send(self._acks(key))  # the deletion's PubAck is what counts
        if answer.error is not None:
            raise StoreError(f"JetStream store write refused: {answer.error.description}")

    async def pending(self, type_name: str | None = None, session: str | None = None,
                      older_than: float | None = None) -> list[InboxEntry]:
        if type_name is None:
            pattern = "i.>"
        elif session is None:
            pattern = f"i.{_part(type_name)}.*.*"
        else:
            pattern = f"i.{_prefix(type_name, session)}.*"
        entries = await self._scan_pending(pattern)
        if older_than is not None:
            horizon = time.time() - older_than
            entries = [(t, e) for t, e in entries if t <= horizon]
        entries.sort(key=lambda pair: (pair[1].enqueued, pair[1].msg_id))
        return [e for _t, e in entries]

    async def _scan_pending(self, pattern: str) -> list[tuple[float, InboxEntry]]:
        out = []
        for entry in await self._scan("inbox", pattern):
            if not entry.value:
                continue
            _i, t, s, m = (_unpart(p) for p in entry.key.split("."))
            v = _inbox_dec.decode(entry.value)
            out.append((v.touched, InboxEntry(t, s, m, v.header, v.content, v.enqueued,
                                              v.deliveries)))
        return out

    async def redelivered(self, type_name: str, session: str, msg_id: str) -> int:
        from nats.js.errors import KeyWrongLastSequenceError

        kv = self._bucket("inbox")
        key = f"i.{self._key(type_name, session, msg_id)}"
        for _ in range(10):  # compare-and-set: two nodes may redeliver at once
            entry = await self._get("inbox", key)
            if entry is None:
                return 0
            v = _inbox_dec.decode(entry.value)
            v.deliveries += 1
            v.touched = time.time()
            try:
                await kv.update(key, _enc.encode(v), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue
            except Exception as exc:
                raise StoreError(f"JetStream store request failed: {exc!r}") from exc
            return v.deliveries
        raise StoreError(f"contention on message {msg_id} did not settle")

    async def touch(self, type_name: str, session: str, msg_id: str) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        kv = self._bucket("inbox")
        key = f"i.{self._key(type_name, session, msg_id)}"
        entry = await self._get("inbox", key)
        if entry is None:
            return
        v = _inbox_dec.decode(entry.value)
        v.touched = time.time()
        try:
            await kv.update(key, _enc.encode(v), last=entry.revision)
        except KeyWrongLastSequenceError:
            return  # acknowledged or redelivered meanwhile: nothing to hold off
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc

    async def dead_letter(self, entry: InboxEntry, error: str) -> None:
        key = self._key(entry.type, entry.session, entry.msg_id)
        dead = DeadLetter(entry.type, entry.session, entry.msg_id, entry.header, entry.content,
                          error, entry.deliveries, time.time())
        await self._call(self._bucket("dead").put(key, _enc.encode(dead)))
        await self._remove(key)  # a retry of it is refused too

    async def dead_letters(self, type_name: str | None = None) -> list[DeadLetter]:
        pattern = f"{_part(type_name)}.*.*" if type_name is not None else ">"
        out = [_dead_dec.decode(e.value) for e in await self._scan("dead", pattern) if e.value]
        out.sort(key=lambda d: d.failed_at)
        return out

    # ---------------------------------------------------------------- types

    async def mark_durable(self, type_name: str) -> None:
        await self._call(self._bucket("meta").put(f"durable.{_part(type_name)}", b"1"))

    async def is_durable(self, type_name: str) -> bool:
        from nats.js.errors import NotFoundError

        try:
            entry = await self._bucket("meta").get(f"durable.{_part(type_name)}")
        except NotFoundError:
            return False
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc
        return bool(entry.value)
