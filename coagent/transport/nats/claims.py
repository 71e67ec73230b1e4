"""Cluster-wide session ownership: claims that point at per-node leases (JetStream KV).

::

    store = await ClaimStore.open(js, "coagent_sessions", "coagent_nodes", "node-a",
                                  is_connected, ttl=15.0)
    owner = await store.claim("echo.s1")      # "node-a", or the live node that owns it
    await store.renew()                       # once per ttl/3: the only upkeep
    await store.release(["echo.s1"])          # the session stopped here

A claim is ``<type>.<session> -> node`` in the claims bucket, written once with
create-if-absent and deleted when the session stops; it has no TTL and is never
refreshed. Whether its node still lives is the node's *lease*: one key per node in
the leases bucket, whose TTL (``ttl``) the live node renews with one put per
``ttl/3``. So a node's upkeep is one KV put per interval whatever number of
sessions it holds (``benchmarks/nats.py`` measures it with 100,000 live sessions).

A claim whose node has no lease, or whose node's connection is gone (its
liveness subject has no responders: a killed node is noticed at once, before its
lease runs out), is taken over with a compare-and-set on the key's revision.

A node killed with kill -9 releases nothing: its claims would stay in the bucket
until each session's next message. :meth:`ClaimStore.sweep` collects them: it reads
at most ``limit`` keys of the bucket's stream from a cursor (one ephemeral consumer,
one fetch) and compare-and-deletes those whose node has no lease (and purges the
tombstones that deletes leave); the next sweep
goes on from where this one stopped, so every key is looked at within
``keys / limit`` sweeps. Only one node sweeps at a time (see ``Placement.sweep``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from coagent.errors import TransportError

__all__ = ["ClaimStore"]

log = logging.getLogger("coagent.transport")


class ClaimStore:
    """Create-if-absent claims, per-node leases, takeover from dead owners."""

    def __init__(self, kv: Any, leases: Any, node: str,
                 is_connected: Callable[[str], Awaitable[bool]], *, js: Any = None,
                 bucket: str = "") -> None:
        self.js = js
        self.bucket = bucket
        self.kv = kv
        self.leases = leases
        self.node = node
        self.node_bytes = node.encode()
        self.is_connected = is_connected

    @classmethod
    async def open(cls, js: Any, bucket: str, leases_bucket: str, node: str,
                   is_connected: Callable[[str], Awaitable[bool]], *, ttl: float) -> ClaimStore:
        """Find or create both buckets and take this node's lease."""
        kv = await _bucket(js, bucket, None, "coagent session claims (session -> node)")
        leases = await _bucket(js, leases_bucket, ttl, "coagent node leases (renewed by live nodes)")
        store = cls(kv, leases, node, is_connected, js=js, bucket=bucket)
        await store.renew()
        return store

    async def renew(self) -> None:
        """Renew this node's lease: the whole upkeep of every claim it holds."""
        await self.leases.put(self.node, self.node_bytes)

    async def drop_lease(self) -> None:
        """Give the lease up (the node is stopping): its claims are free at once."""
        try:
            await self.leases.delete(self.node)
        except Exception as exc:
            log.debug("dropping the lease of %s failed: %s", self.node, exc)

    async def live_nodes(self) -> set[str]:
        """The nodes holding a lease now (one listing of the small leases bucket)."""
        from nats.js.errors import NoKeysError

        try:
            return set(await self.leases.keys())
        except NoKeysError:
            return set()

    async def has_lease(self, node: str) -> bool:
        """Whether ``node`` holds a lease (whatever its connection)."""
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self.leases.get(node)
        except (KeyNotFoundError, KeyDeletedError):
            return False
        return bool(entry.value)

    async def sweep(self, cursor: int, limit: int, live: set[str]) -> tuple[int, int]:
        """Delete claims, among ``limit`` keys from stream sequence ``cursor``, of lease-less nodes.

        ``live`` is the set of nodes known to hold a lease; an owner outside it is looked up
        once more before its claims go, and each delete is a compare-and-delete on the key's
        revision, so a claim taken over or re-asserted meanwhile stays. Returns the number
        deleted and the cursor of the next sweep (1 once the end of the bucket is reached).
        """
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import KeyWrongLastSequenceError
        from nats.js.errors import NotFoundError as JSNotFound

        js = self.js
        if js is None or not self.bucket:
            return 0, cursor
        stream, prefix = f"KV_{self.bucket}", f"$KV.{self.bucket}."
        name = f"sweep_{self.node}_{cursor}".replace(".", "_")
        await js.add_consumer(stream, config=ConsumerConfig(
            name=name, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(cursor, 1),
            ack_policy=AckPolicy.NONE, filter_subject=f"{prefix}>", inactive_threshold=30.0,
        ))
        try:
            sub = await js.pull_subscribe_bind(stream=stream, name=name)
            try:
                msgs = await sub.fetch(limit, timeout=2.0)
            except Exception:  # nothing from the cursor on (nats TimeoutError): the end
                msgs = []
            finally:
                await sub.unsubscribe()
        finally:
            try:
                await js.delete_consumer(stream, name)
            except JSNotFound:
                pass
        verdict: dict[str, bool] = {}
        deleted = 0
        for msg in msgs:
            headers = msg.headers or {}
            if headers.get("KV-Operation") or headers.get("Nats-Marker-Reason"):
                # The tombstone of a released claim: nobody watches the claims bucket, so it
                # is only weight (one per session id ever used). Purging up to its own
                # sequence leaves a claim written to that key since untouched.
                seq = msg.metadata.sequence.stream
                try:
                    await js.purge_stream(stream, seq=seq + 1, subject=msg.subject)
                except Exception as exc:
                    log.debug("purging the tombstone of %s failed: %s", msg.subject, exc)
                continue
            owner = (msg.data or b"").decode()
            if not owner or owner in live:
                continue
            if owner not in verdict:
                verdict[owner] = not await self.has_lease(owner)
            if not verdict[owner]:
                continue
            try:
                await self.kv.delete(msg.subject[len(prefix):], last=msg.metadata.sequence.stream)
                deleted += 1
            except KeyWrongLastSequenceError:
                pass  # taken over or re-asserted since: it is somebody's live claim
        if len(msgs) < limit:
            return deleted, 1
        return deleted, msgs[-1].metadata.sequence.stream + 1

    async def is_alive(self, node: str) -> bool:
        """Whether ``node`` holds a lease and its connection is up."""
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        if not await self.is_connected(node):
            return False
        try:
            entry = await self.leases.get(node)
        except (KeyNotFoundError, KeyDeletedError):
            return False
        return bool(entry.value)

    async def claim(self, key: str) -> str:
        """Claim ``key`` for this node; return the owner (this node, or the live owner)."""
        from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError

        kv = self.kv
        for _ in range(8):
            try:
                await kv.create(key, self.node_bytes)
                return self.node
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                continue  # released meanwhile: try to create again
            owner = (entry.value or b"").decode()
            if owner == self.node:
                return owner
            if owner and await self.is_alive(owner):
                return owner
            try:
                await kv.update(key, self.node_bytes, last=entry.revision)
                log.info("took over session %s from %s", key, owner or "nobody")
                return self.node
            except KeyWrongLastSequenceError:
                continue  # someone else took it first; look again
        raise TransportError(f"could not settle the claim on {key} (it changed hands 8 times)")

    async def take_over(self, key: str, dead: str) -> str:
        """Claim ``key`` from ``dead`` (known not to serve it); return the owner afterwards."""
        from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError

        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return await self.claim(key)
        owner = (entry.value or b"").decode()
        if owner != dead:
            return await self.claim(key)  # someone else moved it already
        try:
            await self.kv.update(key, self.node_bytes, last=entry.revision)
            log.info("took over session %s from %s, which no longer serves it", key, dead)
            return self.node
        except KeyWrongLastSequenceError:
            return await self.claim(key)

    async def reassert(self, keys: list[str]) -> list[str]:
        """Claim ``keys`` again (after the server lost its store); the keys owned elsewhere now."""
        lost = []
        for key in keys:
            try:
                if await self.claim(key) != self.node:
                    lost.append(key)
            except Exception as exc:  # keep going: one bad key must not stop the rest
                log.warning("re-asserting claim %s failed: %s", key, exc)
        return lost

    async def release_one(self, key: str) -> None:
        """Delete our claim on ``key`` if it is still ours."""
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return
        if entry.value == self.node_bytes:
            # Compare-and-delete: a node that took the session over meanwhile keeps it.
            await self.kv.delete(key, last=entry.revision)

    async def release(self, keys: list[str], timeout: float = 2.0) -> None:
        """Delete our claims (best effort, within ``timeout``, 64 at a time)."""
        if not keys:
            return
        sem = asyncio.Semaphore(64)

        async def bounded(key: str) -> None:
            async with sem:
                try:
                    await self.release_one(key)
                except Exception as exc:
                    log.debug("releasing claim %s failed: %s", key, exc)

        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(bounded(k) for k in keys))
        except TimeoutError:
            log.warning("released only part of %d claims within %.1fs", len(keys), timeout)


async def _bucket(js: Any, name: str, ttl: float | None, description: str) -> Any:
    from nats.js.api import KeyValueConfig, StorageType
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(KeyValueConfig(
            bucket=name, history=1, ttl=ttl, storage=StorageType.FILE, description=description,
        ))
    except Exception:
        return await js.key_value(name)  # another node created it first
