"""The node's side of durable agent types: stored tells, replay, redelivery, dead letters.

Why one module of about 450 lines: accepting a tell, its early delivery to a live session
and its redelivery after a crash share one in-flight record, and its order is the protocol.

::

    async with LocalRuntime(store="state.db") as runtime:
        await runtime.register(AgentSpec("counter", new(Counter), durable=True))
        await runtime.tell(Address("counter", "c1"), Add(n=1))   # returns once stored

A tell to a durable type is written to the store's inbox before it returns (with a
message id: the ``msg_id`` header if the sender set one, so a sender that retries
does not duplicate, else a fresh one), then delivered. The session acknowledges it
after writing the state that holds its effect. Whatever is still in the inbox when
a type is registered (the process died before handling it) is delivered again; a
message whose handling fails is retried with backoff and, after ``max_deliveries``,
becomes a dead letter while the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coagent.actors.address import Address
from coagent.actors.envelope import TELL, Envelope
from coagent.actors.message import Message, RawMessage
from coagent.errors import CoagentError
from coagent.runtimes.calls import decode_reply
from coagent.store.base import MSG_ID_HEADER, InboxEntry, StateStore

if TYPE_CHECKING:
    from coagent.actors.cell import Cell
    from coagent.runtimes.node import Node
    from coagent.supervision.spec import AgentSpec

__all__ = ["DurableDelivery", "with_msg_id"]

log = logging.getLogger("coagent.durable")

#: Seconds before a failed delivery is retried, doubling per failure up to RETRY_MAX.
RETRY_MIN = 0.2
RETRY_MAX = 5.0

#: Stored tells being sent on at once, per node; a sender beyond it waits for a slot.
MAX_SENDS = 1000

#: Seconds between checks, during a durable ask, that the session's owner is alive.
OWNER_CHECK_INTERVAL = 1.0

#: Seconds a "not durable" answer about an agent type served elsewhere is cached.
TYPE_CACHE_TTL = 5.0


# Message ids: a random prefix per process and a counter (a third of uuid4's cost per
# tell; 64 random bits keep processes apart). The counter is zero-padded so that a
# process's ids sort in the order it made them: the store's id index is then appended
# to rather than written all over (fewer pages in each commit).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)

#: ``Message.encode`` builds a new header each call (a subclass may return a shared one).
_MESSAGE_ENCODE = Message.encode


def with_msg_id(raw: RawMessage, msg_id: str | None = None) -> tuple[RawMessage, str]:
    """``raw`` carrying a message id (its own if it has one), and that id."""
    existing = raw.header.get(MSG_ID_HEADER)
    if existing:
        return raw, existing
    msg_id = msg_id or f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"
    return RawMessage(header={**raw.header, MSG_ID_HEADER: msg_id}, content=raw.content), msg_id


class DurableDelivery:
    """Stores, delivers and redelivers the messages of one node's durable agent types."""

    def __init__(self, node: Node, store: StateStore, *, redeliver_after: float = 30.0,
                 sweep_interval: float | None = None) -> None:
        self.node = node
        self.store = store
        #: Seconds an unacknowledged message waits before another node may redeliver it.
        self.redeliver_after = redeliver_after
        # A sweep reads the whole inbox of each durable type (on JetStream: a scan of the
        # bucket), so it runs a few times per redeliver_after, not more.
        self.sweep_interval = (sweep_interval if sweep_interval is not None
                               else max(0.5, redeliver_after / 3))
        self.touch_interval = redeliver_after / 3
        self._specs: dict[str, AgentSpec] = {}
        # (type, msg_id) of messages delivered here and not yet settled: never redelivered
        # by this node's sweep (they are in a mailbox or a handler right now).
        self._inflight: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._sweeper: asyncio.Task[None] | None = None
        # Messages in a handler right now, (type, session, msg_id): marked as in hand every
        # touch_interval by one task for all of them (see handling()).
        self._handling: dict[tuple[str, str, str], None] = {}
        self._toucher: asyncio.Task[None] | None = None
        self._types: dict[str, tuple[bool, float]] = {}
        # max_deliveries of types withdrawn from this node (see ``failed``).
        self._withdrawn: dict[str, int] = {}
        self._slots = asyncio.Semaphore(MAX_SENDS)
        # A store that can write a message together with the state that applied it
        # (SQLiteStore.enqueue_soon): a tell to a session live here is delivered while its
        # write is queued. Measured (benchmarks/durable.py, 100 sessions): see the README.
        self._early: Callable[[InboxEntry], asyncio.Future[bool]] | None = getattr(
            store, "enqueue_soon", None)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.store.open()

    async def stop(self) -> None:
        for task in (self._sweeper, self._toucher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sweeper = self._toucher = None
        self._handling.clear()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()

    def handles(self, type_name: str) -> bool:
        """Whether ``type_name`` is a durable type served here."""
        return type_name in self._specs

    async def serve(self, spec: AgentSpec) -> None:
        """Serve durable ``spec``: its sessions use the store; what its inbox holds is replayed."""
        sup = self.node.supervisor(spec.name)
        sup.store = self.store
        sup.tracker = self
        self._specs[spec.name] = spec
        await self.store.mark_durable(spec.name)
        for entry in await self.store.pending(spec.name):
            self._deliver(entry, replay=True)
        loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep_loop())
        if self._toucher is None:
            self._toucher = loop.create_task(self._touch_loop())

    def withdraw(self, type_name: str) -> None:
        spec = self._specs.pop(type_name, None)
        if spec is not None:  # a handler that fails after this still counts against it
            self._withdrawn[type_name] = spec.max_deliveries
        # Its cells stop with it, so none of its messages is in flight here any more: a
        # registration of the type again (an HTTP-served type whose process came back)
        # replays them at once instead of leaving them to the sweep's horizon.
        for key in [k for k in self._inflight if k[0] == type_name]:
            del self._inflight[key]

    # ---------------------------------------------------------------- tells

    def known(self, type_name: str) -> bool | None:
        """Whether ``type_name`` is durable, from what this node knows (``None``: look it up)."""
        if type_name in self._specs:
            return True
        cached = self._types.get(type_name)
        if cached is None:
            return None
        durable, until = cached
        if durable or time.monotonic() < until:
            return durable
        return None

    async def lookup(self, type_name: str) -> bool:
        """Whether some node registered ``type_name`` as durable (asks the store, then caches:
        a durable type stays durable; a type found not durable is asked again after a while)."""
        try:
            durable = await self.store.is_durable(type_name)
        except CoagentError as exc:
            log.warning("cannot tell whether %r is durable (%s): treated as not durable",
                        type_name, exc)
            durable = False
        self._types[type_name] = (durable, time.monotonic() + TYPE_CACHE_TTL)
        return durable

    @staticmethod
    def _entry(address: Address, msg: Any) -> tuple[RawMessage, InboxEntry, bool]:
        """``msg`` with its id, its inbox entry, and whether the id was made here (new)."""
        if msg.__class__ is RawMessage:
            fresh = MSG_ID_HEADER not in msg.header
            raw, msg_id = with_msg_id(msg)
        else:
            raw = msg.encode()
            fresh = MSG_ID_HEADER not in raw.header
            if msg.__class__.encode is _MESSAGE_ENCODE:  # a header of its own: add the id to it
                msg_id = raw.header[MSG_ID_HEADER] = f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"
            else:
                raw, msg_id = with_msg_id(raw)
        return raw, InboxEntry(address.name, address.session, msg_id, raw.header,
                               raw.content), fresh

    async def accept(self, address: Address, msg: Any) -> RawMessage | None:
        """Store ``msg`` for ``address``: the message with its id, ``None`` for a duplicate."""
        raw, entry, _fresh = self._entry(address, msg)
        return raw if await self._enqueue(entry) else None

    async def _enqueue(self, entry: InboxEntry) -> bool:
        """Store ``entry``; ``False`` (logged) if its id was stored before."""
        if await self.store.enqueue(entry):
            return True
        log.debug("%s:%s: message %s is a duplicate, not delivered again", entry.type,
                  entry.session, entry.msg_id)
        return False

    async def receive(self, address: Address, raw: RawMessage) -> RawMessage | None:
        """Store a tell that arrived from a sender without this store (over HTTP): the
        message with its id, to queue here now; ``None`` if that id was stored before."""
        stored = await self.accept(address, raw)
        if stored is not None:
            # Queued here right after: this node's sweep leaves it alone while it waits.
            self._inflight[(address.name, stored.header[MSG_ID_HEADER])] = time.monotonic()
        return stored

    async def tell(self, address: Address, msg: Any, deadline: float,
                   sender: Address | None, explicit: bool) -> None:
        """Store ``msg`` for ``address`` and send it on; returns once it is stored.

        The send runs on its own (its failure leaves the message stored, for the sweep),
        so a tell never waits for a node that died after receiving it.
        """
        raw, entry, fresh = self._entry(address, msg)
        cell = self.node._live_cell(address) if fresh and self._early is not None else None
        if cell is not None:
            if await self._tell_early(cell, address, raw, entry, deadline, sender):
                return
        elif not await self._enqueue(entry):
            return
        await self._send(address, raw, deadline, sender, explicit)

    async def _tell_early(self, cell: Cell, address: Address, raw: RawMessage,
                          entry: InboxEntry, deadline: float, sender: Address | None) -> bool:
        """Deliver to the session's live cell while the message's write is queued; return
        once it is stored (``True``), or ``False`` if the cell took nothing (then stored:
        the caller sends it on).

        Only for an id made here, which no sender can have used before: the message cannot
        be a duplicate, so applying it before the store has said so is safe, and the store
        writes it with the state that applied it when both fall in one commit. If the
        write fails, the sender gets the StoreError, a copy still queued is skipped, and a
        save that applied it is refused (the session is restored from the store).
        """
        assert self._early is not None
        stored = self._early(entry)
        key = (address.name, entry.msg_id)
        self._inflight[key] = time.monotonic()
        env = Envelope(raw, TELL, None, sender, deadline)
        try:
            queued = cell.deliver_nowait(env)
        except CoagentError:
            queued = False  # stopping: sent on below once stored
        try:
            await stored
        except CoagentError:
            # Never stored: a copy still queued is skipped. (One already in its handler, or
            # queued behind a sender that stopped waiting, is refused at its save.)
            env.cancelled = True
            self._inflight.pop(key, None)
            raise
        return queued

    async def _send(self, address: Address, raw: RawMessage, deadline: float,
                    sender: Address | None, explicit: bool) -> None:
        key = (address.name, raw.header[MSG_ID_HEADER])
        self._inflight[key] = time.monotonic()
        cell = self.node._live_cell(address)
        if cell is not None:
            try:
                if cell.deliver_nowait(Envelope(raw, TELL, None, sender, deadline)):
                    return
            except CoagentError:
                pass  # stopping: the send below finds the session's next cell or node
        await self._slots.acquire()  # at most MAX_SENDS sends at once: senders slow down
        task = asyncio.get_running_loop().create_task(
            self._send_now(address, raw, deadline, sender, explicit, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_now(self, address: Address, raw: RawMessage, deadline: float,
                        sender: Address | None, explicit: bool, key: tuple[str, str]) -> None:
        try:
            await self.node._send_tell(address, raw, deadline, sender, explicit)
            if self.node._live_cell(address) is None:
                self._inflight.pop(key, None)  # its owner is another node: its sweep's concern
        except CoagentError as exc:
            self._inflight.pop(key, None)  # stored: the sweep delivers it again later
            log.info("durable message %s to %s not delivered yet: %s", key[1], address, exc)
        finally:
            self._slots.release()

    async def ask(self, address: Address, msg: Any, deadline: float, timeout: float,
                  sender: Address | None, explicit: bool) -> Any:
        """Ask a durable session; if its owner dies meanwhile, ask the next owner.

        The request carries a message id, so a session that applied it before its node
        died answers the retry from the reply it stored with its state.
        """
        typed = msg.__class__ is not RawMessage
        raw, _msg_id = with_msg_id(msg.encode() if typed else msg)
        node = self.node
        cell = node._live_cell(address)
        if cell is not None:
            # Served here: the owner is this node, which cannot die and leave this caller
            # waiting, so no task watches it (that watch cost about 20 us an ask).
            reply = await node._ask_cell(cell, address, raw, deadline, timeout, sender)
            return decode_reply(reply) if typed and reply is not None else reply
        loop = asyncio.get_running_loop()
        while True:
            attempt = loop.create_task(
                node._send_ask(address, raw, deadline, timeout, sender, explicit))
            try:
                while True:
                    done, _ = await asyncio.wait([attempt], timeout=OWNER_CHECK_INTERVAL)
                    if done:
                        reply = attempt.result()
                        return decode_reply(reply) if typed and reply is not None else reply
                    if loop.time() >= deadline or not await node._owner_lost(address):
                        continue
                    log.info("the owner of %s is gone: asking its next owner", address)
                    attempt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, CoagentError):
                        await attempt
                    break
            except BaseException:
                attempt.cancel()
                raise

    def _deliver(self, entry: InboxEntry, *, replay: bool = False) -> None:
        """Send a stored message again (replay at registration, retry, sweep)."""
        key = (entry.type, entry.msg_id)
        if replay and key in self._inflight:
            return
        loop = asyncio.get_running_loop()
        raw = RawMessage(header=entry.header, content=entry.content)
        address = Address(entry.type, entry.session)
        task = loop.create_task(self._send(address, raw, loop.time() + self.node.default_timeout,
                                           None, False))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --------------------------------------------------- DeliveryTracker

    def handling(self, type_name: str, session: str, msg_id: str) -> None:
        self._handling[(type_name, session, msg_id)] = None

    def handled(self, type_name: str, session: str, msg_id: str) -> None:
        self._handling.pop((type_name, session, msg_id), None)

    async def _touch_loop(self) -> None:
        """Every touch_interval, mark each message still in a handler as in hand: one that
        has been in it for a whole interval is marked before redeliver_after runs out."""
        store = self.store
        while True:
            await asyncio.sleep(self.touch_interval)
            held = list(self._handling)
            if not held:
                continue
            results = await asyncio.gather(*(store.touch(t, s, m) for t, s, m in held),
                                           return_exceptions=True)
            for (_t, _s, msg_id), result in zip(held, results, strict=True):
                if isinstance(result, CoagentError):
                    log.warning("could not mark message %s as in hand: %s", msg_id, result)
                elif isinstance(result, BaseException):
                    raise result

    def settled(self, type_name: str, msg_id: str) -> None:
        self._inflight.pop((type_name, msg_id), None)

    async def failed(self, type_name: str, session: str, msg_id: str, error: str) -> None:
        """A handler failed on a stored message: retry with backoff, or dead-letter it."""
        spec = self._specs.get(type_name)
        count = await self.store.redelivered(type_name, session, msg_id)
        if count == 0:
            self.settled(type_name, msg_id)
            return  # not pending any more (deleted, or settled by another delivery)
        limit = spec.max_deliveries if spec is not None else self._withdrawn.get(type_name, 1)
        if count >= limit:
            entries = [e for e in await self.store.pending(type_name, session)
                       if e.msg_id == msg_id]
            if entries:
                entry = entries[0]
                entry.deliveries = count
                await self.store.dead_letter(entry, error)
                log.error("message %s to %s:%s failed %d times, now a dead letter: %s",
                          msg_id, type_name, session, count, error)
            self.settled(type_name, msg_id)
            return
        if spec is None:
            # The type was withdrawn while the handler ran (an HTTP-served type whose process
            # went away fails its relay's call): the message stays pending, for the type's
            # next registration here or another node's sweep.
            self.settled(type_name, msg_id)
            return
        delay = min(RETRY_MAX, RETRY_MIN * 2 ** (count - 1))
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def retry() -> None:
            assert timer is not None
            self._timers.discard(timer)
            task = loop.create_task(self._retry(type_name, session, msg_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        timer = loop.call_later(delay, retry)
        self._timers.add(timer)

    async def _retry(self, type_name: str, session: str, msg_id: str) -> None:
        self.settled(type_name, msg_id)
        for entry in await self.store.pending(type_name, session):
            if entry.msg_id == msg_id and type_name in self._specs:
                self._deliver(entry)

    # ---------------------------------------------------------------- sweep

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.sweep()
            except CoagentError as exc:
                log.warning("durable sweep failed: %s", exc)

    async def sweep(self) -> int:
        """Redeliver messages unacknowledged for ``redeliver_after`` s; how many were."""
        count = 0
        horizon = 4 * self.redeliver_after
        for type_name, spec in list(self._specs.items()):
            for entry in await self.store.pending(type_name, older_than=self.redeliver_after):
                since = self._inflight.get((type_name, entry.msg_id))
                if since is not None and time.monotonic() - since < horizon:
                    continue  # queued here (a cell that stopped for good lets it go in time)
                deliveries = await self.store.redelivered(type_name, entry.session, entry.msg_id)
                if deliveries == 0:
                    continue
                if deliveries > spec.max_deliveries:
                    entry.deliveries = deliveries
                    await self.store.dead_letter(
                        entry, f"not acknowledged after {deliveries - 1} deliveries")
                    continue
                self._deliver(entry)
                count += 1
        return count
