"""Durable sessions on a NATS cluster of real ``coagent node`` processes (JetStream store)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.agents import ChatMessage
from coagent.errors import CoagentError, StoreError
from coagent.runtimes import NATSRuntime
from coagent.store import MSG_ID_HEADER
from coagent.store.jetstream import JetStreamStore
from coagent.testing import FakeOpenAIServer, NATSServer
from tests.durable.agents import Add

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "tests" / "durable" / "cluster_agents.py"

#: The issue's figures; COAGENT_DURABLE_SESSIONS sizes the big run down on a slow machine.
SESSIONS = int(os.environ.get("COAGENT_DURABLE_SESSIONS", "1000"))
TELLS = 20


class Node:
    """One ``coagent node`` process serving the durable test agents."""

    def __init__(self, url: str, name: str, prefix: str, env: dict[str, str] | None = None,
                 spec: str = "") -> None:
        self.args = [sys.executable, "-m", "coagent", "node", f"{AGENTS}{spec}", "--server", url,
                     "--name", name, "--prefix", prefix, "--redeliver-after", "1.5"]
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.name = name
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    async def serving(self, timeout: float = 60.0) -> None:
        """Until the node says it serves its agent types (they are registered by then)."""
        stderr = self.proc.stderr
        assert stderr is not None

        def read() -> None:
            for line in iter(stderr.readline, b""):
                if b" serving [" in line:
                    return
            raise AssertionError(f"node {self.name} exited before serving")

        await asyncio.wait_for(asyncio.to_thread(read), timeout)
        # Keep draining its stderr so that the node never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in iter(stderr.readline, b"")],
                         daemon=True).start()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.proc = self._start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


def stop_all(nodes: list[Node]) -> None:
    for n in nodes:
        n.stop()
    for n in nodes:
        n.wait()


async def serving(nodes: list[Node]) -> None:
    await asyncio.gather(*(n.serving() for n in nodes))


@pytest.fixture
async def server() -> AsyncIterator[NATSServer]:
    s = NATSServer().start()
    try:
        yield s
    finally:
        s.close()


async def _counts(store: JetStreamStore, sessions: int) -> dict[int, int]:
    """Each counter's stored value (an empty answer while the store is too slow to scan)."""
    out = {}
    try:
        infos = await store.sessions("counter")
        for info in infos:
            record = await store.load("counter", info.session)
            assert record is not None
            out[int(info.session[1:])] = msgspec.json.decode(record.state)["n"]
    except StoreError:
        return {}
    return out


async def test_every_counter_ends_at_exactly_20_although_a_node_is_killed_mid_run(
    server: NATSServer,
) -> None:
    prefix = "dk"
    nodes = [Node(server.url, f"dk-n{i}", prefix) for i in range(3)]
    client = NATSRuntime(server.url, prefix=prefix, announce=False, default_timeout=30)
    try:
        await client.start()
        await serving(nodes)

        async def session(i: int) -> None:
            for k in range(TELLS):
                # The sender names each message, so a tell it retries (the store timed out
                # under load, say) is applied once whatever happened to the first attempt.
                raw = Add(n=1).encode()
                raw = RawMessage(header={**raw.header, MSG_ID_HEADER: f"c{i}-{k}"},
                                 content=raw.content)
                for attempt in range(20):
                    try:
                        await client.tell(Address("counter", f"c{i}"), raw, timeout=30)
                        break
                    except CoagentError:
                        if attempt == 19:
                            raise
                        await asyncio.sleep(0.2)

        run = asyncio.gather(*(session(i) for i in range(SESSIONS)))
        store = client.durable.store  # type: ignore[union-attr]
        async with asyncio.timeout(120):
            while sum((await _counts(store, SESSIONS)).values()) < SESSIONS * TELLS // 4:
                await asyncio.sleep(0.05)
            nodes[0].kill()  # kill -9 mid-run
            await run  # every tell was accepted (stored) although a node died
            nodes[0].restart()
            await nodes[0].serving()
            while True:
                counts = await _counts(store, SESSIONS)
                if len(counts) == SESSIONS and set(counts.values()) == {TELLS}:
                    break
                assert max(counts.values(), default=0) <= TELLS, "a tell was applied twice"
                await asyncio.sleep(0.2)
        assert await store.pending("counter") == []
        assert await store.dead_letters() == []
    finally:
        await client.stop()
        stop_all(nodes)


async def test_a_chat_conversation_survives_the_death_of_its_node(server: NATSServer) -> None:
    prefix = "dc"
    async with FakeOpenAIServer(default=lambda req: f"echo {req.last_message['content']}") as fake:
        nodes = [Node(server.url, f"dc-n{i}", prefix, env=fake.env(), spec=":chat")
                 for i in range(2)]
        client = NATSRuntime(server.url, prefix=prefix, announce=False, default_timeout=30)
        try:
            await client.start()
            await serving(nodes)
            address = Address("chat", "conv1")
            for text in ("one", "two"):
                reply = await client.ask(address, ChatMessage(role="user", content=text),
                                         timeout=20)
                assert reply.content == f"echo {text}"
            owner = client.transport.placement.owners[address]
            [victim] = [n for n in nodes if n.name == owner]
            victim.kill()
            reply = await client.ask(address, ChatMessage(role="user", content="three"),
                                     timeout=20)
            assert reply.content == "echo three"
            assert [m["content"] for m in fake.requests[-1].messages] == [
                "Be brief.", "one", "echo one", "two", "echo two", "three",
            ]
            assert client.transport.placement.owners[address] != owner
        finally:
            await client.stop()
            stop_all(nodes)


async def test_no_accepted_tell_is_lost_when_the_nats_server_restarts(
    server: NATSServer,
) -> None:
    prefix = "dr"
    nodes = [Node(server.url, f"dr-n{i}", prefix) for i in range(2)]
    client = NATSRuntime(server.url, prefix=prefix, announce=False, default_timeout=30,
                         max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    accepted: dict[int, int] = {}
    refused: dict[int, int] = {}
    try:
        await client.start()
        await serving(nodes)

        async def session(i: int, stop: asyncio.Event) -> None:
            while not stop.is_set():
                try:
                    await client.tell(Address("counter", f"c{i}"), Add(n=1), timeout=5)
                except CoagentError:  # refused while the server is down: not accepted
                    refused[i] = refused.get(i, 0) + 1
                    await asyncio.sleep(0.1)
                    continue
                accepted[i] = accepted.get(i, 0) + 1

        stop = asyncio.Event()
        run = asyncio.gather(*(session(i, stop) for i in range(20)))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.restart, 0.5)
        await asyncio.sleep(2.0)
        stop.set()
        await run
        store = client.durable.store  # type: ignore[union-attr]
        async with asyncio.timeout(60):
            while True:
                counts = await _counts(store, 20)
                if counts and all(counts.get(i, 0) >= n for i, n in accepted.items()):
                    break
                await asyncio.sleep(0.2)
        assert sum(accepted.values()) > 0
        # Every accepted tell was applied once; a refused one may have been stored before the
        # restart cut off the server's answer, so it may be applied too (at most once each).
        for i, n in accepted.items():
            assert n <= counts[i] <= n + refused.get(i, 0), (i, n, counts[i], refused.get(i))
    finally:
        await client.stop()
        stop_all(nodes)


