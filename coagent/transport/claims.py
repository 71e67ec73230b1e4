"""Cluster-wide session ownership in a JetStream key-value bucket.

A session belongs to the node whose name is stored under ``<type>.<session>``.
The first node to ``create`` the key owns it; everyone else forwards to the owner.
A claim held by a node that no longer answers its liveness ping (NATS reports
"no responders" as soon as the node's connection is gone) is taken over with a
compare-and-set on the key's revision, so a killed node's sessions move on the
next message to them rather than after a timeout. The bucket's ``max_age`` clears
claims left behind; owners refresh the claims of their live sessions well within it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["ClaimStore"]

log = logging.getLogger("coagent.transport")


class ClaimStore:
    """Create-if-absent claims with takeover from dead owners."""

    def __init__(self, kv, node: str, is_alive: Callable[[str], Awaitable[bool]]) -> None:  # type: ignore[no-untyped-def]
        self.kv = kv
        self.node = node
        self.node_bytes = node.encode()
        self.is_alive = is_alive

    @classmethod
    async def open(cls, js, bucket: str, node: str, is_alive: Callable[[str], Awaitable[bool]],  # type: ignore[no-untyped-def]
                   *, ttl: float) -> ClaimStore:
        from nats.js.api import KeyValueConfig, StorageType
        from nats.js.errors import BucketNotFoundError

        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            try:
                kv = await js.create_key_value(KeyValueConfig(
                    bucket=bucket, history=1, ttl=ttl, storage=StorageType.FILE,
                    description="coagent session claims",
                ))
            except Exception:
                kv = await js.key_value(bucket)  # another node created it first
        return cls(kv, node, is_alive)

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
        raise RuntimeError(f"could not settle the claim on {key}")

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

    async def refresh(self, keys: list[str]) -> list[str]:
        """Re-assert claims on live sessions; returns the keys now owned by another node."""
        lost = []
        for key in keys:
            try:
                owner = await self.claim(key)
            except Exception as exc:  # keep going: one bad key must not stop the rest
                log.warning("refreshing claim %s failed: %s", key, exc)
                continue
            if owner != self.node:
                lost.append(key)
            else:
                try:
                    entry = await self.kv.get(key)
                    await self.kv.update(key, self.node_bytes, last=entry.revision)
                except Exception:
                    pass
        return lost

    async def release(self, keys: list[str], timeout: float = 2.0) -> None:
        """Delete our claims (best effort, within ``timeout``)."""
        if not keys:
            return

        async def one(key: str) -> None:
            try:
                entry = await self.kv.get(key)
                if entry.value == self.node_bytes:
                    await self.kv.delete(key, last=entry.revision)
            except Exception:
                pass

        try:
            async with asyncio.timeout(timeout):
                sem = asyncio.Semaphore(64)

                async def bounded(key: str) -> None:
                    async with sem:
                        await one(key)

                await asyncio.gather(*(bounded(k) for k in keys))
        except TimeoutError:
            log.warning("released only part of %d claims within %.1fs", len(keys), timeout)
