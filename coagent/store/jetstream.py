"""``JetStreamStore``: durable sessions of a ``NATSRuntime`` cluster, in JetStream KV (file storage).

::

    nc = await nats.connect("nats://localhost:4222")
    store = JetStreamStore(nc)                      # NATSRuntime makes one on its own connection
    await store.open()

Four buckets under ``prefix`` (default ``coagent``): ``<prefix>_state`` (one key per
session: its state and applied ids, msgpack, written in one put; ``<prefix>_sessions``
is the transport's claims bucket), ``<prefix>_inbox``
(one key per accepted, unacknowledged message; ``create`` refuses an id that is
already pending, and a retry arriving after the acknowledgement is recognised by the
session's applied ids), ``<prefix>_dead`` and ``<prefix>_meta`` (durable types).
Keys are ``<type>.<session>[.<msg id>]`` with each part kept as it is when it is a
plain token, else written ``=<base64url>``.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from coagent.errors import StoreError
from coagent.store.base import DeadLetter, InboxEntry, SessionInfo, StoredSession

__all__ = ["JetStreamStore"]

_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,200}")

#: Seconds an acknowledged message id is remembered by the inbox for de-duplication of
#: retried sends (later a retry is recognised only by the session's applied ids). Short,
#: because the markers are part of every scan of the inbox (the sweep's ``pending``).
SEEN_TTL = 600.0

#: Seconds one scan of a bucket (``pending``, ``sessions``) may take before ``StoreError``.
SCAN_TIMEOUT = 30.0


def _part(text: str) -> str:
    if _PLAIN.fullmatch(text):
        return text
    return "=" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unpart(part: str) -> str:
    if not part.startswith("="):
        return part
    raw = part[1:]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()


class _Inbox(msgspec.Struct):
    header: dict[str, str]
    content: bytes
    enqueued: float
    touched: float
    deliveries: int = 0


_enc = msgspec.msgpack.Encoder()
_session_dec = msgspec.msgpack.Decoder(StoredSession)
_inbox_dec = msgspec.msgpack.Decoder(_Inbox)
_dead_dec = msgspec.msgpack.Decoder(DeadLetter)


class JetStreamStore:
    """A :class:`~coagent.store.base.StateStore` in JetStream key-value buckets.

    Args:
        nc: a connected nats-py client (the store does not close it).
        prefix: bucket name prefix, shared by the cluster.
        replicas: JetStream replicas of each bucket (1 on a single server).
        timeout: seconds one JetStream request may take.
    """

    def __init__(self, nc: Any, *, prefix: str = "coagent", replicas: int = 1,
                 timeout: float = 5.0) -> None:
        if not _PLAIN.fullmatch(prefix):
            raise ValueError(f"prefix must be a plain token, got {prefix!r}")
        self.nc = nc
        self.prefix = prefix
        self.replicas = replicas
        self.timeout = timeout
        self._kv: dict[str, Any] = {}
        self._js: Any = None

    def __repr__(self) -> str:
        return f"JetStreamStore(prefix={self.prefix!r})"

    async def open(self) -> None:
        if self._kv:
            return
        from nats.js.api import KeyValueConfig, StorageType
        from nats.js.errors import BucketNotFoundError

        js = self._js = self.nc.jetstream(timeout=self.timeout)
        try:
            for name in ("state", "inbox", "dead", "meta"):
                bucket = f"{self.prefix}_{name}"
                try:
                    kv = await js.key_value(bucket)
                except BucketNotFoundError:
                    try:
                        kv = await js.create_key_value(KeyValueConfig(
                            bucket=bucket, history=1, storage=StorageType.FILE,
                            replicas=self.replicas, description=f"coagent durable {name}",
                        ))
                    except Exception:
                        kv = await js.key_value(bucket)  # another node created it first
                self._kv[name] = kv
        except Exception as exc:
            self._kv.clear()
            raise StoreError(f"cannot open the JetStream store: {exc}") from exc

    async def close(self) -> None:
        self._kv.clear()

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

    async def _scan(self, name: str, pattern: str = ">") -> list[Any]:
        """The live entries of a bucket under ``pattern`` (deleted keys left out)."""
        kv = self._bucket(name)
        try:
            async with asyncio.timeout(SCAN_TIMEOUT):
                watcher = await kv.watch(pattern, ignore_deletes=True)
                try:
                    out = []
                    async for entry in watcher:
                        if entry is None:
                            break
                        out.append(entry)
                    return out
                finally:
                    await watcher.stop()
        except TimeoutError:
            raise StoreError(f"scanning the {name} bucket took over {SCAN_TIMEOUT}s") from None
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"scanning the {name} bucket failed: {exc!r}") from exc

    # ------------------------------------------------------------ sessions

    async def load(self, type_name: str, session: str) -> StoredSession | None:
        from nats.js.errors import KeyNotFoundError

        kv = self._bucket("state")
        try:
            entry = await kv.get(f"{_part(type_name)}.{_part(session)}")
        except KeyNotFoundError:
            return None
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc
        if not entry.value:
            return None
        return _session_dec.decode(entry.value)

    #: Two buckets cannot be written in one transaction: the caller acknowledges after ``save``.
    atomic_ack = False

    async def save(self, type_name: str, session: str, state: bytes, applied: list[str],
                   applied_count: int | None = None, reply_id: str = "",
                   reply: bytes = b"", ack: Sequence[str] = ()) -> None:
        if applied_count is None:
            old = await self.load(type_name, session)
            applied_count = (old.applied_count if old else 0) + 1
        record = StoredSession(type_name, session, state, applied, applied_count, time.time(),
                               reply_id, reply)
        await self._call(self._bucket("state").put(
            f"{_part(type_name)}.{_part(session)}", _enc.encode(record)))

    async def delete(self, type_name: str, session: str) -> bool:
        found = await self.load(type_name, session) is not None
        prefix = f"{_part(type_name)}.{_part(session)}"
        inbox = [e for e in await self._scan("inbox", f"{prefix}.*") if e.value]
        for entry in inbox:
            await self._call(self._bucket("inbox").delete(entry.key))
        if found:
            await self._call(self._bucket("state").delete(prefix))
        return found or bool(inbox)

    async def sessions(self, type_name: str | None = None) -> list[SessionInfo]:
        pattern = f"{_part(type_name)}.*" if type_name is not None else ">"
        pending: dict[tuple[str, str], int] = {}
        inbox_pattern = f"{_part(type_name)}.*.*" if type_name is not None else ">"
        for _touched, e in await self._scan_pending(inbox_pattern):
            pending[e.type, e.session] = pending.get((e.type, e.session), 0) + 1
        out = []
        for entry in await self._scan("state", pattern):
            if not entry.value:
                continue
            rec = _session_dec.decode(entry.value)
            out.append(SessionInfo(rec.type, rec.session, len(rec.state), rec.updated,
                                   rec.applied_count, pending.get((rec.type, rec.session), 0)))
        out.sort(key=lambda i: (i.type, i.session))
        return out

    # --------------------------------------------------------------- inbox

    @staticmethod
    def _inbox_key(type_name: str, session: str, msg_id: str) -> str:
        return f"{_part(type_name)}.{_part(session)}.{_part(msg_id)}"

    async def enqueue(self, entry: InboxEntry) -> bool:
        from nats.js.errors import KeyWrongLastSequenceError

        value = _Inbox(entry.header, entry.content, entry.enqueued, entry.enqueued,
                       entry.deliveries)
        try:
            await self._bucket("inbox").create(
                self._inbox_key(entry.type, entry.session, entry.msg_id), _enc.encode(value))
        except KeyWrongLastSequenceError:
            return False
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc
        return True

    async def ack(self, type_name: str, session: str, msg_id: str) -> None:
        # An empty value, not a delete: ``create`` keeps refusing the id (a retried send)
        # until the marker expires, SEEN_TTL later (the bucket allows per-message TTLs).
        key = self._inbox_key(type_name, session, msg_id)
        self._bucket("inbox")
        await self._call(self._js.publish(f"$KV.{self.prefix}_inbox.{key}", b"",
                                          msg_ttl=SEEN_TTL))

    async def pending(self, type_name: str | None = None, session: str | None = None,
                      older_than: float | None = None) -> list[InboxEntry]:
        if type_name is None:
            pattern = ">"
        elif session is None:
            pattern = f"{_part(type_name)}.*.*"
        else:
            pattern = f"{_part(type_name)}.{_part(session)}.*"
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
            t, s, m = (_unpart(p) for p in entry.key.split("."))
            v = _inbox_dec.decode(entry.value)
            out.append((v.touched, InboxEntry(t, s, m, v.header, v.content, v.enqueued,
                                              v.deliveries)))
        return out

    async def redelivered(self, type_name: str, session: str, msg_id: str) -> int:
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        kv = self._bucket("inbox")
        key = self._inbox_key(type_name, session, msg_id)
        for _ in range(10):  # compare-and-set: two nodes may redeliver at once
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                return 0
            except Exception as exc:
                raise StoreError(f"JetStream store request failed: {exc!r}") from exc
            if not entry.value:
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
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        kv = self._bucket("inbox")
        key = self._inbox_key(type_name, session, msg_id)
        try:
            entry = await kv.get(key)
            if not entry.value:
                return
            v = _inbox_dec.decode(entry.value)
            v.touched = time.time()
            await kv.update(key, _enc.encode(v), last=entry.revision)
        except (KeyNotFoundError, KeyWrongLastSequenceError):
            return  # acknowledged or redelivered meanwhile: nothing to hold off
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc

    async def dead_letter(self, entry: InboxEntry, error: str) -> None:
        key = self._inbox_key(entry.type, entry.session, entry.msg_id)
        dead = DeadLetter(entry.type, entry.session, entry.msg_id, entry.header, entry.content,
                          error, entry.deliveries, time.time())
        await self._call(self._bucket("dead").put(key, _enc.encode(dead)))
        await self._call(self._bucket("inbox").delete(key))

    async def dead_letters(self, type_name: str | None = None) -> list[DeadLetter]:
        pattern = f"{_part(type_name)}.*.*" if type_name is not None else ">"
        out = [_dead_dec.decode(e.value) for e in await self._scan("dead", pattern) if e.value]
        out.sort(key=lambda d: d.failed_at)
        return out

    # ---------------------------------------------------------------- types

    async def mark_durable(self, type_name: str) -> None:
        await self._call(self._bucket("meta").put(f"durable.{_part(type_name)}", b"1"))

    async def is_durable(self, type_name: str) -> bool:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self._bucket("meta").get(f"durable.{_part(type_name)}")
        except KeyNotFoundError:
            return False
        except Exception as exc:
            raise StoreError(f"JetStream store request failed: {exc!r}") from exc
        return bool(entry.value)
