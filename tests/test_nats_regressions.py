"""NATS corner cases found in review; each test failed before its fix."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, ChildSpec, Supervisor, new
from coagent.errors import AgentNotFound, CoagentError, MessageTooLarge
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from tests.kit import Count, Ping, Pong, Sleep, Stateful


class OverQuota(CoagentError):
    code = "tests_over_quota"

    def __init__(self, user: str, limit: int) -> None:
        super().__init__(f"user {user} is over the quota of {limit}")


class RegBlob(Message):
    data: str = ""


class Strict(Actor):
    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        raise OverQuota("bob", 10)

    @handler
    async def count(self, msg: Count, ctx: Context):  # type: ignore[no-untyped-def]
        raise OverQuota("bob", 10)
        yield Pong()

    @handler
    async def big(self, msg: RegBlob, ctx: Context) -> RegBlob:
        return RegBlob(data="x" * 2_000_000)


@pytest.fixture
async def pair(nats_server):
    prefix = f"r{time.monotonic_ns() % 10**9}"
    a = NATSRuntime.from_servers(nats_server.url, name=f"{prefix}-a", prefix=prefix)
    b = NATSRuntime.from_servers(nats_server.url, name=f"{prefix}-b", prefix=prefix)
    client = NATSRuntime.from_servers(nats_server.url, prefix=prefix, announce=False, default_timeout=10)
    async with a, b, client:
        await a.register(AgentSpec("strict", new(Strict)))
        await a.register(AgentSpec("team", new(Supervisor, children=[ChildSpec("x", new(Stateful))])))
        yield a, b, client


async def test_errors_with_their_own_constructor_keep_their_type(pair) -> None:
    _, _, client = pair
    with pytest.raises(OverQuota, match="over the quota of 10"):
        await client.ask(Address("strict", "s"), Ping())
    start = time.monotonic()
    with pytest.raises(OverQuota):
        async for _ in client.stream(Address("strict", "s"), Count(n=1)):
            pass
    assert time.monotonic() - start < 1


async def test_stream_errors_sent_before_any_item_keep_their_type(pair) -> None:
    _, _, client = pair
    with pytest.raises(AgentNotFound):
        async for _ in client.stream(Address("team.nope", "s"), Count(n=1)):
            pass


async def test_oversize_replies_fail_fast_and_typed(pair) -> None:
    _, _, client = pair
    start = time.monotonic()
    with pytest.raises(MessageTooLarge):
        await client.ask(Address("strict", "s"), RegBlob())
    with pytest.raises(MessageTooLarge):
        await client.ask(Address("strict", "s"), RegBlob(data="y" * 2_000_000))
    assert time.monotonic() - start < 1


async def test_deregister_lets_other_nodes_take_the_sessions(pair) -> None:
    a, b, client = pair
    await a.register(AgentSpec("echo", new(Stateful)))
    assert (await client.ask(Address("echo", "moving"), Ping())).n == 1  # only a serves echo
    await b.register(AgentSpec("echo", new(Stateful)))
    await a.deregister("echo")
    assert (await client.ask(Address("echo", "moving"), Ping())).n == 1  # fresh, on b
    assert "moving" in b.supervisor("echo").sessions


async def test_a_nan_timeout_header_gets_the_default_deadline(pair, nats_server) -> None:
    a, _, _ = pair
    a.default_timeout = 0.5
    await a.register(AgentSpec("sleeper", new(Stateful)))
    nc = await nats.connect(nats_server.url)
    try:
        msg = await nc.request(a.subjects.agent("sleeper"), b'{"seconds": 5}', timeout=5,
                               headers={"type": Sleep.__message_type__, "session": "n", "timeout": "nan"})
    finally:
        await nc.close()
    assert msg.headers["error"] == "deadline_exceeded"


async def test_a_server_back_with_an_empty_store_still_takes_new_sessions(tmp_path) -> None:
    server = NATSServer(store_dir=str(tmp_path / "one")).start()
    try:
        async with NATSRuntime.from_servers(server.url, name="fresh-a", prefix="fresh") as node:
            await node.register(AgentSpec("echo", new(Stateful)))
            assert (await node.ask(Address("echo", "old"), Ping())).n == 1
            server.stop()
            server.store_dir = str(tmp_path / "two")  # the JetStream bucket is gone
            server.start()
            deadline = time.monotonic() + 15
            while True:
                try:
                    assert (await node.ask(Address("echo", "new"), Ping(), timeout=1)).n == 1
                    break
                except CoagentError:
                    assert time.monotonic() < deadline, "new sessions never worked again"
                    await asyncio.sleep(0.2)
    finally:
        server.close()


async def test_a_first_message_forwarded_to_an_owner_that_stopped_serving_is_taken_over(pair, nats_server) -> None:
    a, b, client = pair
    prefix = a.subjects.prefix
    for node in (a, b):
        await node.register(AgentSpec("echo", new(Stateful)))
    # A "ghost" owner: it still answers its liveness ping but serves no session any more.
    nc = await nats.connect(nats_server.url)
    try:
        async def pong(msg):  # type: ignore[no-untyped-def]
            await msg.respond(b"ghost")

        await nc.subscribe(f"{prefix}.ctl.ghost.ping", cb=pong)
        await nc.flush()
        await a.claims.kv.put("echo.haunted", b"ghost")  # type: ignore[union-attr]
        start = time.monotonic()
        assert (await client.ask(Address("echo", "haunted"), Ping(), timeout=5)).n == 1
        assert time.monotonic() - start < 1
    finally:
        await nc.close()
