"""A child process for the kill -9 tests: LocalRuntime + SQLite.

``python -m tests.durable.proc_local DB tell N``: tell ``Add(n=i)`` for i in 0..N-1 to
session ``c1``, printing ``accepted i`` after each tell returns, then idle.
``python -m tests.durable.proc_local DB check``: register, wait until the inbox is empty,
print the counter's state as JSON.
``COAGENT_TEST_EXIT_IN_ACK=K``: the store acknowledges apart from the state write (as
JetStream must) and exits the process (as kill -9 would) in its K-th acknowledgement,
after the state write that precedes it.
``COAGENT_TEST_EXIT_AFTER_SAVE=K``: SQLite's own way (the acknowledgement inside the state
write's transaction); the process exits right after the K-th write committed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from coagent.actors.address import Address
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.store.sqlite import SQLiteStore
from tests.durable.agents import Add, Get, SlowCounter


class CrashingStore(SQLiteStore):
    """Dies between a state write and the acknowledgement of its message."""

    atomic_ack = False  # so that there is a moment between the two to die in

    def __init__(self, path: str, exit_in_ack: int) -> None:
        super().__init__(path)
        self.acks = 0
        self.exit_in_ack = exit_in_ack

    async def ack(self, type_name: str, session: str, msg_id: str) -> None:
        self.acks += 1
        if self.acks == self.exit_in_ack:
            print("crashing in ack", msg_id, flush=True)
            os._exit(137)
        await super().ack(type_name, session, msg_id)


class ExitAfterSave(SQLiteStore):
    """Dies right after a state write (and the acknowledgement in it) committed."""

    def __init__(self, path: str, exit_after: int) -> None:
        super().__init__(path)
        self.saves = 0
        self.exit_after = exit_after

    async def save(self, *args: Any, **kwargs: Any) -> None:
        await super().save(*args, **kwargs)
        self.saves += 1
        if self.saves == self.exit_after:
            print("crashing after save", flush=True)
            os._exit(137)


async def main(db: str, mode: str, n: int) -> None:
    exit_in_ack = int(os.environ.get("COAGENT_TEST_EXIT_IN_ACK", "0"))
    exit_after_save = int(os.environ.get("COAGENT_TEST_EXIT_AFTER_SAVE", "0"))
    store: SQLiteStore = SQLiteStore(db)
    if exit_in_ack:
        store = CrashingStore(db, exit_in_ack)
    elif exit_after_save:
        store = ExitAfterSave(db, exit_after_save)
    async with LocalRuntime(store=store, default_timeout=30) as rt:
        await rt.register(AgentSpec("counter", new(SlowCounter), durable=True))
        c1 = Address("counter", "c1")
        if mode == "tell":
            for i in range(n):
                await rt.tell(c1, Add(n=i))
                print("accepted", i, flush=True)
            await asyncio.sleep(60)
            return
        async with asyncio.timeout(20):
            while await store.pending():
                await asyncio.sleep(0.02)
        total = await rt.ask(c1, Get(), timeout=5)
        [info] = await store.sessions("counter")
        print(json.dumps({"n": total.n, "seen": total.seen, "applied": info.applied_count}),
              flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))
