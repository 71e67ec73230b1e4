"""Placement: which node serves a session (claims, this node's lease, the owner cache).

::

    placement = Placement(conn, subjects, lease_ttl=15.0)
    await placement.open()                        # buckets + this node's lease
    owner = await placement.claim("echo", "s1")   # this node's name, or the owner's
    placement.session_ended("echo", "s1")         # releases the claim (in the background)
    placement.owners[Address("echo", "s2")]       # where this node last saw s2 served

Claims are kept only for live sessions: a session that passivates or stops releases
its claim and leaves :attr:`Placement.claimed`. Their upkeep is this node's lease
(one KV put per ``lease_ttl / 3``); see :mod:`coagent.transport.nats.claims`.

Claims left by a node killed with kill -9 are collected by :meth:`Placement.sweep_orphans`:
every ``sweep_interval`` seconds (default ``2 * lease_ttl``) the live node whose name sorts
first among the leases reads at most ``SWEEP_LIMIT`` claim keys and deletes those whose
node has no lease. Cost per sweep: one listing of the leases bucket (one entry per node) on
every node; on the sweeping node alone, one ephemeral consumer and one fetch of at most
1,000 keys, one lease lookup per dead owner and one delete per orphan. With the defaults
(15 s leases: a sweep every 30 s) a bucket of 100,000 claims is read through within 50
minutes by one node, about 33 keys a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from coagent.actors.address import Address
from coagent.errors import TransportError
from coagent.transport.nats.claims import ClaimStore
from coagent.transport.nats.connection import Connection
from coagent.transport.subjects import Subjects

__all__ = ["Placement", "OWNER_CACHE_SIZE", "RELEASE_BATCH", "SWEEP_LIMIT"]

log = logging.getLogger("coagent.nats")

#: Sessions whose owner a node remembers (least recently learnt ones are forgotten first).
OWNER_CACHE_SIZE = 200_000
#: Claims of ended sessions deleted concurrently (the rest wait their turn).
RELEASE_BATCH = 64
#: Claim keys read per sweep for orphans (claims of nodes without a lease).
SWEEP_LIMIT = 1000


class Placement:
    """Claims of this node's sessions and what it knows of other nodes' sessions."""

    def __init__(self, conn: Connection, subjects: Subjects, *, lease_ttl: float,
                 sweep_interval: float | None = None) -> None:
        self.conn = conn
        self.subjects = subjects
        self.node = subjects.node
        self.lease_ttl = lease_ttl
        #: Seconds between two sweeps for orphaned claims (by the first live node only).
        self.sweep_interval = sweep_interval if sweep_interval is not None else 2 * lease_ttl
        #: Stream sequence the next sweep starts from (it goes on where the last one stopped).
        self._sweep_cursor = 1
        self.claims: ClaimStore | None = None
        #: Claim keys (``<type>.<session>``) this node holds: its live sessions only.
        self.claimed: set[str] = set()
        #: Owner node of sessions served elsewhere, as last learnt.
        self.owners: OrderedDict[Address, str] = OrderedDict()
        self._claiming: dict[str, asyncio.Future[str]] = {}
        #: Claims of ended sessions waiting to be deleted, each with a future done when it is.
        self._releasing: dict[str, asyncio.Future[None]] = {}
        self._release_queue: list[str] = []
        self._release_task: asyncio.Task[None] | None = None
        #: The node is stopping: ended sessions keep their claims for :meth:`release_all`.
        self.closing = False

    async def open(self) -> None:
        """Open the buckets and take this node's lease (without JetStream: no claims)."""
        try:
            js = self.conn.nc.jetstream(timeout=2)
            self.claims = await ClaimStore.open(
                js, self.subjects.claims_bucket, self.subjects.leases_bucket, self.node,
                self.is_connected, ttl=self.lease_ttl,
            )
        except Exception as exc:
            self.claims = None
            log.warning(
                "JetStream is not available (%s): sessions are not claimed cluster-wide;"
                " run nats-server with -js for exactly-one-owner sessions", exc,
            )

    async def is_connected(self, node: str) -> bool:
        """Whether ``node`` answers its liveness ping (no responders: it is gone)."""
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        try:
            await self.conn.nc.request(self.subjects.ping(node), b"", timeout=1.0)
            return True
        except NoRespondersError:
            return False
        except NatsTimeout:
            return True  # slow, not gone: calls to it fail by their own deadlines

    # ------------------------------------------------------------------ claims

    async def claim(self, type_name: str, session: str) -> str:
        """The node that owns ``type_name``'s ``session`` (claiming it for this node if free)."""
        claims = self.claims
        if claims is None:
            return self.node
        key = f"{type_name}.{session}"
        if key in self.claimed:
            return self.node
        releasing = self._releasing.get(key)
        if releasing is not None:
            await asyncio.shield(releasing)  # a claim made now must outlive that release
        pending = self._claiming.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # we were cancelled ourselves
                return await self.claim(type_name, session)  # the claimer was: claim again
        fut = asyncio.get_running_loop().create_future()
        self._claiming[key] = fut
        try:
            owner = await claims.claim(key)
        except asyncio.CancelledError:
            fut.cancel()  # waiters try again themselves
            raise
        except Exception as exc:
            error = exc if isinstance(exc, TransportError) else TransportError(
                f"claiming session {key} failed: {exc}")
            fut.set_exception(error)
            fut.exception()  # retrieved: waiters re-raise it, nobody logs it
            raise error from None
        finally:
            self._claiming.pop(key, None)
        if owner == self.node:
            self.claimed.add(key)
        fut.set_result(owner)
        return owner

    async def take_over(self, type_name: str, session: str, dead: str) -> str:
        """Claim a session from ``dead``, which was found not to serve it."""
        key = f"{type_name}.{session}"
        if self.claims is None:
            return self.node
        try:
            owner = await self.claims.take_over(key, dead)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise TransportError(f"taking session {key} over failed: {exc}") from None
        if owner == self.node:
            self.claimed.add(key)
        return owner

    def session_ended(self, type_name: str, session: str) -> None:
        """The session stopped here: forget its claim now, delete it from the bucket soon.

        Deletions run in one background task, ``RELEASE_BATCH`` at a time, so that a sweep
        passivating thousands of sessions at once costs a bounded number of requests in flight.
        """
        key = f"{type_name}.{session}"
        if self.closing or key not in self.claimed:
            return
        self.claimed.discard(key)
        if self.claims is None or not self.conn.running:
            return
        if key not in self._releasing:
            self._releasing[key] = asyncio.get_running_loop().create_future()
            self._release_queue.append(key)
        if self._release_task is None:
            self._release_task = asyncio.get_running_loop().create_task(self._release_queued())

    async def _release_queued(self) -> None:
        queue = self._release_queue
        try:
            while queue and self.claims is not None:
                batch, queue[:RELEASE_BATCH] = queue[:RELEASE_BATCH], []
                await asyncio.gather(*(self._release_one(self.claims, key) for key in batch))
        finally:
            self._release_task = None
            for key in queue:  # not released (no store any more): wake whoever waits
                fut = self._releasing.pop(key, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            queue.clear()

    async def _release_one(self, claims: ClaimStore, key: str) -> None:
        try:
            await claims.release_one(key)
        except Exception as exc:
            log.debug("releasing claim %s failed: %s", key, exc)
        finally:
            fut = self._releasing.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def release(self, keys: list[str]) -> None:
        """Release the claims on ``keys`` now (agent types withdrawn)."""
        self.claimed.difference_update(keys)
        if self.claims is not None and keys:
            await self.claims.release(keys)

    async def release_all(self) -> None:
        """The node is stopping: give up every claim and the lease."""
        self.closing = True
        if self._release_task is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(self._release_task)
        keys, self.claimed = sorted(self.claimed), set()
        if self.claims is not None:
            await self.claims.release(keys)
            await self.claims.drop_lease()

    # ------------------------------------------------------------------ upkeep

    async def keep_lease(self) -> None:
        """Renew this node's lease every ``lease_ttl / 3`` seconds (runs until cancelled)."""
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            if self.claims is None:
                continue
            try:
                await self.claims.renew()
            except Exception as exc:
                log.warning("renewing the lease of %s failed: %s", self.node, exc)

    async def sweep_orphans(self) -> int:
        """Sweep once if this node sorts first among the live ones; the claims deleted."""
        claims = self.claims
        if claims is None:
            return 0
        live = await claims.live_nodes()
        if not live or min(live) != self.node:
            self._sweep_cursor = 1  # another node sweeps; start over if it falls to us
            return 0
        deleted, self._sweep_cursor = await claims.sweep(self._sweep_cursor, SWEEP_LIMIT, live)
        if deleted:
            log.info("deleted %d claims of nodes that died without releasing them", deleted)
        return deleted

    async def keep_sweeping(self) -> None:
        """Run :meth:`sweep_orphans` every ``sweep_interval`` seconds (until cancelled)."""
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.sweep_orphans()
            except Exception as exc:
                log.warning("sweeping orphaned claims failed: %s", exc)

    async def reassert(self) -> list[str]:
        """After a reconnect (the server may have lost its store): buckets, lease, claims again.

        Returns the claim keys now owned by another node.
        """
        await self.open()
        if self.claims is None:
            return []
        lost = await self.claims.reassert(sorted(self.claimed))
        self.claimed.difference_update(lost)
        return lost

    # ------------------------------------------------------------- owner cache

    def remember_owner(self, address: Address, owner: str | None) -> None:
        if not owner or owner == self.node:
            return
        owners = self.owners
        if owners.get(address) != owner:
            owners[address] = owner
            if len(owners) > OWNER_CACHE_SIZE:
                owners.popitem(last=False)

    def forget_owner(self, address: Address) -> None:
        self.owners.pop(address, None)


