"""Durable session actors: state written after every message, restored on activation.

An actor of a durable agent type declares its state with two hooks::

    class CounterState(msgspec.Struct):
        n: int = 0

    class Counter(Actor):
        def __init__(self) -> None:
            super().__init__()
            self.state = CounterState()

        def snapshot(self) -> CounterState:          # anything msgspec encodes as JSON
            return self.state

        def restore(self, data: Any) -> None:        # the JSON of a snapshot, decoded
            self.state = msgspec.convert(data, CounterState)

        @handler
        async def add(self, msg: Add, ctx: Context) -> None:
            self.state.n += msg.n

    AgentSpec("counter", new(Counter), durable=True)

``restore`` runs after ``started()`` on every activation that finds a stored record.
After each handled message the cell writes the snapshot together with the message's
id (one write), then acknowledges the message and only then answers an ask: a
message redelivered after a crash between the write and the acknowledgement is
recognised by its id and not applied again. A handler that fails leaves the stored
state as it was; the next instance restores it.

About 400 lines: the activation (restore), the write-then-acknowledge order and the
redelivery bookkeeping are one protocol, and keeping them in one module keeps that order
readable in one place.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from coagent.actors.cell import Cell
from coagent.actors.envelope import ASK, TELL, Envelope, ExternalReply
from coagent.actors.message import RawMessage
from coagent.errors import StateNotStored, StoreError
from coagent.store.base import APPLIED_WINDOW, MSG_ID_HEADER, StateStore

if TYPE_CHECKING:
    from coagent.actors.actor import Actor
    from coagent.actors.address import Address
    from coagent.actors.context import ActorSystem
    from coagent.actors.lifecycle import Parent

__all__ = ["DurableCell", "DeliveryTracker", "encode_state"]

log = logging.getLogger("coagent.durable")

_encoder = msgspec.json.Encoder()


def encode_state(value: Any) -> bytes:
    """A snapshot as the bytes the store keeps (JSON)."""
    try:
        return _encoder.encode(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise StoreError(f"snapshot() returned a value that is not JSON-encodable: {exc}") from exc


class DeliveryTracker(Protocol):
    """What a durable cell tells the node about inbox messages it handles."""

    def handling(self, type_name: str, session: str, msg_id: str) -> None:
        """A handler starts on the message: mark it as in hand (holding off its redelivery
        elsewhere) every little while until :meth:`handled`."""

    def handled(self, type_name: str, session: str, msg_id: str) -> None:
        """The handler of the message returned (or failed)."""

    def settled(self, type_name: str, msg_id: str) -> None:
        """The message was applied (or given up on): it is no longer in flight here."""

    async def failed(self, type_name: str, session: str, msg_id: str, error: str) -> None:
        """Handling the message failed; the node redelivers it or dead-letters it."""


class DurableCell(Cell):
    """A session's cell whose instances restore and checkpoint their state in a store."""

    __slots__ = (
        "_applied",
        "_applied_count",
        "_applied_set",
        "_atomic",
        "_batch",
        "_batch_ids",
        "_kept",
        "_last_reply",
        "_store",
        "_tracker",
        "_unacked",
    )

    def __init__(self, address: Address, factory: Callable[[], Actor], parent: Parent,
                 system: ActorSystem, *, store: StateStore, tracker: DeliveryTracker | None,
                 mailbox_size: int = 0) -> None:
        super().__init__(address, factory, parent, system, mailbox_size=mailbox_size)
        self._store = store
        self._tracker = tracker
        # SQLite acknowledges with the state write: no ack to send, none to lose.
        self._atomic = bool(getattr(store, "atomic_ack", False))
        # The last MEMORY_WINDOW applied ids (the last APPLIED_WINDOW of them are stored).
        self._applied: deque[str] = deque(maxlen=MEMORY_WINDOW)
        self._applied_set: set[str] = set()
        # Unacknowledged ids that left the window: recognised until their ack is confirmed.
        self._kept: set[str] = set()
        # Applied ids whose acknowledgement is not confirmed: they stay in the stored applied
        # list beyond the window until it is, so a redelivery is always recognised.
        self._unacked: set[str] = set()
        self._applied_count = 0
        self._last_reply: tuple[str, bytes] = ("", b"")
        self._batch: list[tuple[str, Envelope]] = []
        self._batch_ids: set[str] = set()

    async def _instantiate(self) -> None:
        address = self.address
        record = await self._store.load(address.name, address.session)
        await super()._instantiate()
        inst = self.instance
        assert inst is not None
        self._applied.clear()
        self._applied_set.clear()
        self._kept.clear()
        self._applied_count = 0
        if record is None:
            return
        restore = getattr(inst, "restore", None)
        if restore is None:
            raise TypeError(f"{type(inst).__name__} is durable but has no restore()")
        restore(msgspec.json.decode(record.state))
        window = record.applied[-APPLIED_WINDOW:]
        self._applied.extend(window)
        self._applied_set.update(window)
        older = set(record.applied[:-APPLIED_WINDOW] if len(record.applied) > APPLIED_WINDOW
                    else ())
        if older:  # kept while still in the inbox (their ack was lost), else forgotten
            still = {e.msg_id for e in await self._store.pending(address.name, address.session)}
            self._unacked = older & still
            self._applied_set.update(self._unacked)
            self._kept.update(self._unacked)
        self._applied_count = record.applied_count
        self._last_reply = (record.reply_id, record.reply)

    async def _dispatch(self, env: Envelope) -> None:
        msg = env.msg
        msg_id = msg.header.get(MSG_ID_HEADER) if msg.__class__ is RawMessage else None
        address = self.address
        if msg_id is not None and (msg_id in self._applied_set or msg_id in self._batch_ids):
            # A redelivery (state written, acknowledgement lost) or a sender's retry. Its
            # original must be stored before the ack of the copy removes it from the inbox.
            log.debug("%s: message %s already applied", address, msg_id)
            await self._flush_batch()
            # Acknowledged even on an atomic store: the write that applied it may have been a
            # store's that acknowledges apart (a crash between the two left it pending).
            self._ack_later(msg_id)
            if env.kind == ASK and not env.reply.done():
                reply_id, reply = self._last_reply
                env.reply.set_result(_raw_decoder.decode(reply) if reply_id == msg_id and reply
                                     else None)
                if isinstance(env.reply, ExternalReply):
                    await env.reply.flush()
            else:
                close = getattr(env.reply, "close", None)
                if close is not None:
                    close()
            return
        caller = None
        if env.kind == ASK:
            # The caller hears the reply only after the state holding its effect is stored.
            caller, env.reply = env.reply, asyncio.get_running_loop().create_future()
        # A long handler (a model call of a minute) keeps its claim on the message: the
        # tracker marks every message in a handler once per interval, one timer for all
        # (a timer per message cost about 7 us a tell).
        tracker = self._tracker
        held = msg_id if tracker is not None else None
        if tracker is not None and held is not None:
            tracker.handling(address.name, address.session, held)
        try:
            await super()._dispatch(env)
        except Exception as exc:
            if caller is not None:
                env.reply = caller  # the drain fails the caller's own future
            if msg_id is None or env.kind != TELL or self._tracker is None:
                self._requeue_batch()
                raise
            # A stored message failed: it is retried (or dead-lettered) by the node, and the
            # instance goes back to the stored state instead of crashing, so that a poison
            # message does not use up the session's restart intensity.
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s failed on message %s: %s", address, msg_id, self.last_error)
            await self._tracker.failed(address.name, address.session, msg_id, self.last_error)
            await self._reload()
            self._requeue_batch()
            return
        except BaseException:
            if caller is not None:
                env.reply = caller
            self._requeue_batch()
            raise
        finally:
            if tracker is not None and held is not None:
                tracker.handled(address.name, address.session, held)
        local = env.reply if caller is not None else None
        if caller is not None:
            env.reply = caller
        if caller is not None and local is not None and local.done() \
                and local.exception() is not None:
            caller.set_exception(local.exception())  # e.g. UnknownMessage: nothing was applied
            return
        reply = b""
        if caller is not None and msg_id is not None and local is not None and local.done():
            value = local.result()
            if value is not None and value.__class__ is RawMessage:
                reply = _raw_encoder.encode(value)  # kept for a caller that retries the ask
        if caller is None and msg_id is not None and len(self._batch) < BATCH_LIMIT \
                and self._next_is_stored_tell() and getattr(self.instance, "group_apply", True):
            # Group apply: tells queued behind this one are applied before one write stores
            # them all (nobody waits for a tell's write, and none is acknowledged before it).
            # An actor whose handling is itself a side effect elsewhere (the HTTP gateway's
            # relay: a tell sent to another process) says group_apply = False, so that a
            # failure re-runs only the failed tell, not the batch sent before it.
            self._batch.append((msg_id, env))
            self._batch_ids.add(msg_id)
            return
        batch = self._batch
        if batch:
            ids = [i for i, _env in batch]
            batch.clear()
            self._batch_ids.clear()
            if msg_id is not None:
                ids.append(msg_id)
        else:
            ids = [msg_id] if msg_id is not None else []
        await self._checkpoint(ids, reply, len(ids) + (msg_id is None))
        self._acknowledge(ids)
        if caller is not None and local is not None and not caller.done():
            caller.set_result(local.result() if local.done() else None)
            if isinstance(caller, ExternalReply):
                await caller.flush()

    async def _reload(self) -> None:
        """Put the instance back to the stored state (a fresh one's if nothing is stored)."""
        address = self.address
        record = await self._store.load(address.name, address.session)
        inst = self.instance
        if inst is None:
            return
        if record is None:
            fresh = self.factory()
            inst.__dict__.update(fresh.__dict__)  # the state a new session starts from
            return
        inst.restore(msgspec.json.decode(record.state))  # type: ignore[attr-defined]

    def _next_is_stored_tell(self) -> bool:
        mailbox = self.mailbox
        if not mailbox or self._stop:
            return False
        env = mailbox[0]
        msg = env.msg
        # A cancelled one (an early delivery whose write failed) is skipped by the drain,
        # which may then find the mailbox empty and leave a batch unwritten.
        return env.kind == TELL and not env.cancelled and msg.__class__ is RawMessage and MSG_ID_HEADER in msg.header

    async def _flush_batch(self) -> None:
        if not self._batch:
            return
        ids = [i for i, _env in self._batch]
        self._batch.clear()
        self._batch_ids.clear()
        await self._checkpoint(ids, b"", len(ids))
        self._acknowledge(ids)

    def _acknowledge(self, ids: list[str]) -> None:
        if self._atomic:
            for applied in ids:  # acknowledged by the write that stored them
                self._settle(applied)
            return
        for applied in ids:
            # Not awaited: the state is written, so a copy redelivered because this ack was
            # lost is recognised by its id. The next message need not wait for it.
            self._ack_later(applied)

    def _requeue_batch(self) -> None:
        """A failure came before the batch was stored: its tells run again, in order, on the
        restored state (their effects so far are gone with the instance's memory)."""
        if self._batch:
            envs = [env for _i, env in self._batch]
            self._batch.clear()
            self._batch_ids.clear()
            self.mailbox.extendleft(reversed(envs))

    async def _checkpoint(self, ids: list[str], reply: bytes, count: int) -> None:
        inst = self.instance
        if inst is None:
            return
        snapshot = getattr(inst, "snapshot", None)
        if snapshot is None:
            raise TypeError(f"{type(inst).__name__} is durable but has no snapshot()")
        state = encode_state(snapshot())
        applied, applied_set = self._applied, self._applied_set
        unacked = self._unacked
        atomic = self._atomic
        for msg_id in ids:
            if len(applied) == applied.maxlen:
                oldest = applied[0]
                if oldest in unacked:
                    self._kept.add(oldest)
                else:
                    applied_set.discard(oldest)
            applied.append(msg_id)
            applied_set.add(msg_id)
            if not atomic:
                unacked.add(msg_id)
        self._applied_count += count
        address = self.address
        reply_id = ids[-1] if reply and ids else ""
        try:
            if atomic:
                # The write's own ids are enough: no applied message stays in the inbox (each
                # is acknowledged by this same transaction), so none can come back from it; a
                # sender's retry is refused by the inbox's record of the id. The window of
                # older ids stays in memory, for copies already queued in the mailbox.
                await self._store.save(address.name, address.session, state, ids,
                                       self._applied_count, reply_id, reply, ack=ids)
            else:
                n = len(applied)
                stored = list(itertools.islice(applied, max(0, n - APPLIED_WINDOW), n))
                if unacked:
                    known = set(stored)
                    stored.extend(i for i in unacked if i not in known)
                await self._store.save(address.name, address.session, state, stored,
                                       self._applied_count, reply_id, reply)
        except StoreError as exc:
            # The instance holds effects the store does not: it is replaced by one restored
            # from the store (StateNotStored restarts the actor), never kept.
            if isinstance(exc, StateNotStored):
                raise
            raise StateNotStored(f"{address}: its state was not stored: {exc}") from exc
        if reply_id:
            self._last_reply = (reply_id, reply)

    def _ack_later(self, msg_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._ack(msg_id))
        _ACKS.add(task)
        task.add_done_callback(_ACKS.discard)

    async def _ack(self, msg_id: str) -> None:
        address = self.address
        for attempt in range(ACK_ATTEMPTS):
            try:
                await self._store.ack(address.name, address.session, msg_id)
            except StoreError as exc:
                if attempt == ACK_ATTEMPTS - 1:
                    # Still applied-and-stored: a redelivery is recognised by its id.
                    log.warning("%s: ack of %s failed: %s", address, msg_id, exc)
                    break
                await asyncio.sleep(min(5.0, 0.2 * 2 ** attempt))
                continue
            self._unacked.discard(msg_id)
            if msg_id in self._kept:
                self._kept.discard(msg_id)
                self._applied_set.discard(msg_id)
            break
        self._settle(msg_id)

    def _settle(self, msg_id: str) -> None:
        if self._tracker is not None:
            self._tracker.settled(self.address.name, msg_id)


#: Attempts at an acknowledgement before it is left to the redelivery (which is recognised).
ACK_ATTEMPTS = 8

#: Applied ids a live session recognises (it stores the last APPLIED_WINDOW of them). A
#: sweep's copy of a message can wait in the mailbox behind everything queued there, and
#: must still be recognised once its original was applied: in the NATS server restart
#: test, sessions applied several hundred messages while such a copy waited, past the
#: stored window of 64. About 100 bytes an id, and only a busy session fills it.
MEMORY_WINDOW = 4096

#: Tells applied before one write stores them (group apply); below APPLIED_WINDOW.
BATCH_LIMIT = 32

_raw_encoder = msgspec.msgpack.Encoder()

#: Acknowledgements in flight (referenced so that they are not garbage-collected).
_ACKS: set[asyncio.Task[None]] = set()
_raw_decoder = msgspec.msgpack.Decoder(RawMessage)
