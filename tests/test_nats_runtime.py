"""The NATS runtime against a real nats-server, with several nodes in this process."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from hypothesis import given, settings

from coagent import Address, RawMessage
from coagent.core import AgentSpec, ChildSpec, Supervisor, new
from coagent.errors import (
    AgentCrashed,
    AgentNotFound,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    MessageDecodeError,
    NodeAlreadyRunning,
    UnknownMessage,
)
from coagent.runtimes import LocalRuntime, NATSRuntime
from coagent.transport.subjects import Subjects
from tests.kit import Count, Crash, Note, Ping, Pong, Sleep, Stateful
from tests.test_address import names, sessions

T = 5.0


@pytest.fixture
async def nodes(nats_server):
    """Two serving nodes (echo, team) and one client that serves nothing."""
    prefix = f"t{time.monotonic_ns() % 10**9}"  # isolate tests sharing the server
    a = NATSRuntime.from_servers(nats_server.url, name="node-a", prefix=prefix, default_timeout=T)
    b = NATSRuntime.from_servers(nats_server.url, name="node-b", prefix=prefix, default_timeout=T)
    client = NATSRuntime.from_servers(nats_server.url, prefix=prefix, announce=False, default_timeout=T)
    async with a, b, client:
        for node in (a, b):
            await node.register(AgentSpec("echo", new(Stateful), description="echo"))
            await node.register(AgentSpec("team", new(Supervisor, children=[ChildSpec("x", new(Stateful))])))
        yield a, b, client


def sessions_on(tree, name="echo") -> set[str]:
    for agent in tree.agents:
        if agent.name == name:
            return {s.session for s in agent.sessions}
    return set()


async def test_remote_calls_keep_session_state(nodes) -> None:
    a, b, client = nodes
    addr = Address("echo", "s1")
    assert [(await client.ask(addr, Ping())).n for _ in range(3)] == [1, 2, 3]
    assert [t.i async for t in client.stream(addr, Count(n=4))] == [0, 1, 2, 3]
    await client.tell(addr, Note(text="hello"))
    owner = a if "s1" in sessions_on(await a.tree()) else b
    assert (await owner.ask(addr, Ping())).n == 4  # the owner calls its own actor locally
    cell = owner.supervisor("echo").sessions["s1"]
    assert cell.instance.notes == ["hello"]  # type: ignore[union-attr]
    raw = await client.ask(addr, Ping().encode())
    assert isinstance(raw, RawMessage) and Pong.decode(raw).n == 5


async def test_each_session_lives_on_exactly_one_node(nodes) -> None:
    a, b, client = nodes
    addrs = [Address("echo", f"u{i}") for i in range(300)]
    replies = await asyncio.gather(*(client.ask(x, Ping()) for x in addrs))
    assert all(r.n == 1 for r in replies)
    on_a, on_b = sessions_on(await a.tree()), sessions_on(await b.tree())
    assert on_a | on_b == {x.session for x in addrs}
    assert not on_a & on_b
    # Both nodes also call sessions owned by the other: still one instance each.
    again = await asyncio.gather(*(node.ask(x, Ping()) for x in addrs for node in (a, b)))
    assert sorted(r.n for r in again) == sorted([2, 3] * len(addrs))
    assert sessions_on(await a.tree()) == on_a and sessions_on(await b.tree()) == on_b


async def test_local_calls_never_touch_the_network(nodes) -> None:
    a, _, _ = nodes
    addr = Address("echo", "local-1")
    await a.ask(addr, Ping())  # the first message claims the session
    before = dict(a.nc.stats)
    for _ in range(200):
        await a.ask(addr, Ping())
    assert [t.i async for t in a.stream(addr, Count(n=3))] == [0, 1, 2]
    await a.tell(addr, Note(text="x"))
    assert a.nc.stats["out_msgs"] == before["out_msgs"]
    assert a.nc.stats["in_msgs"] == before["in_msgs"]


async def test_errors_cross_the_wire_typed(nodes) -> None:
    _, _, client = nodes
    addr = Address("echo", "err")
    with pytest.raises(AgentCrashed) as info:
        await client.ask(addr, Crash(text="remote boom"))
    assert info.value.exc_type == "RuntimeError" and "remote boom" in str(info.value)
    assert "Traceback" not in str(info.value)
    assert (await client.ask(addr, Ping())).n == 1  # restarted
    with pytest.raises(UnknownMessage):
        await client.ask(addr, RawMessage(header={"type": "NoSuchType"}, content=b"{}"))
    with pytest.raises(MessageDecodeError):
        await client.ask(addr, RawMessage(header={"type": "Ping"}, content=b"\xff not json"))
    start = time.monotonic()
    with pytest.raises(AgentNotFound):
        await client.ask(Address("nobody", "s"), Ping())
    assert time.monotonic() - start < 0.5  # no responders: fails fast, not after a timeout


async def test_deadline_cancels_the_remote_handler(nodes) -> None:
    _, _, client = nodes
    addr = Address("echo", "slow")
    await client.ask(addr, Ping())
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await client.ask(addr, Sleep(seconds=30), timeout=0.3)
    assert time.monotonic() - start < 1.0
    start = time.monotonic()
    assert (await client.ask(addr, Ping(), timeout=3)).n == 2
    assert time.monotonic() - start < 1.0  # the sleeping handler was cancelled remotely


async def test_caller_cancellation_cancels_the_remote_handler(nodes) -> None:
    _, _, client = nodes
    addr = Address("echo", "cancel-me")
    await client.ask(addr, Ping())
    task = asyncio.ensure_future(client.ask(addr, Sleep(seconds=30)))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    start = time.monotonic()
    assert (await client.ask(addr, Ping(), timeout=3)).n == 2
    assert time.monotonic() - start < 1.0


async def test_remote_stream_early_exit_and_deadline(nodes) -> None:
    _, _, client = nodes
    addr = Address("echo", "streamer")
    got = []
    async with client.stream(addr, Count(n=1000, delay=0.01)) as ticks:
        async for tick in ticks:
            got.append(tick.i)
            if tick.i == 2:
                break
    assert got == [0, 1, 2]
    start = time.monotonic()
    assert (await client.ask(addr, Ping(), timeout=3)).n == 1
    assert time.monotonic() - start < 1.0  # the 10-second stream was cancelled

    seen = []
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        async for tick in client.stream(addr, Count(n=100, delay=0.1), timeout=0.35):
            seen.append(tick)
    assert time.monotonic() - start < 1.0
    assert 1 <= len(seen) <= 4
    with pytest.raises(AgentCrashed):
        async for _ in client.stream(addr, Crash()):
            pass
    with pytest.raises(AgentNotFound):
        async for _ in client.stream(Address("nobody", "s"), Count(n=1)):
            pass


async def test_supervisor_children_are_reachable_remotely(nodes) -> None:
    _, _, client = nodes
    assert (await client.ask(Address("team.x", "t1"), Ping())).n == 1
    assert (await client.ask(Address("team.x", "t1"), Ping())).n == 2
    with pytest.raises(AgentNotFound):
        await client.ask(Address("team.nope", "t1"), Ping())


async def test_hostile_addresses_never_reach_a_subject(nodes) -> None:
    _, _, client = nodes
    for session in (">", "*", "a b", "a.b", ""):
        with pytest.raises(InvalidAddress):
            await client.ask(f"echo:{session}", Ping())
    with pytest.raises(InvalidAddress):
        await client.ask(Address("echo", "s").name + ".>", Ping())


async def test_garbage_on_agent_subjects_gets_errors_and_nodes_keep_serving(nodes, nats_server) -> None:
    a, _b, client = nodes
    prefix = a.subjects.prefix
    nc = await nats.connect(nats_server.url)
    try:
        async def raw_request(subject: str, data: bytes, headers=None) -> tuple[str, str]:
            msg = await nc.request(subject, data, timeout=T, headers=headers)
            return (msg.headers or {}).get("error", ""), msg.data.decode()

        code, _ = await raw_request(f"{prefix}.a.echo", b"\x00\x01garbage", {"type": "Ping", "session": "g1"})
        assert code == "message_decode_error"
        code, _ = await raw_request(f"{prefix}.a.echo", b"{}", {"type": "Ping", "session": ">"})
        assert code == "invalid_address"
        code, _ = await raw_request(f"{prefix}.a.echo", b"{}", {"session": "g2"})
        assert code == "message_decode_error"
        code, body = await raw_request(f"{prefix}.a.echo", b"{}", {"type": "Mystery", "session": "g3"})
        assert code == "unknown_message" and "Mystery" in body
        code, _ = await raw_request(f"{prefix}.n.node-a.echo", b"{}", {"type": "Ping"})
        assert code == "invalid_address"
        # No reply subject: nothing to answer, the node logs and keeps serving.
        await nc.publish(f"{prefix}.a.echo", b"garbage", headers={"type": "Ping", "session": "g4"})
        await nc.publish(f"{prefix}.a.echo", b"garbage")
        await nc.flush()
        # A well-formed request from a plain NATS client (the wire is headers + JSON body).
        msg = await nc.request(f"{prefix}.a.echo", b'{"n": 1}', timeout=T, headers={"type": "Ping", "session": "g5"})
        assert msg.headers["type"] == "Pong" and Pong.decode_content(msg.data) == Pong(n=1)
    finally:
        await nc.close()
    assert (await client.ask(Address("echo", "after-garbage"), Ping())).n == 1


@settings(max_examples=200, deadline=None)
@given(names, sessions)
def test_subjects_round_trip(name: str, session: str) -> None:
    subjects = Subjects("coagent", "node-1")
    addr = Address(name, session)
    subject = subjects.session("node-1", addr)
    assert subjects.parse_node_subject(subject) == addr
    assert ">" not in subject and "*" not in subject and " " not in subject
    assert subjects.agent(name) == f"coagent.a.{name}"


async def test_node_names_are_unique(nats_server) -> None:
    async with NATSRuntime.from_servers(nats_server.url, name="unique-1"):
        with pytest.raises(NodeAlreadyRunning, match="already running"):
            async with NATSRuntime.from_servers(nats_server.url, name="unique-1"):
                pass


async def test_no_server_is_a_clear_error() -> None:
    from coagent.errors import TransportError

    start = time.monotonic()
    with pytest.raises(TransportError, match="cannot connect"):
        async with NATSRuntime.from_servers("nats://127.0.0.1:1", connect_deadline=1.0):
            pass
    assert time.monotonic() - start < 3


async def test_drop_in_for_local_runtime(nats_server) -> None:
    """The same code runs on both runtimes."""

    async def scenario(rt) -> list[int]:
        await rt.register(AgentSpec("echo", new(Stateful)))
        out = [(await rt.ask(Address("echo", "d"), Ping())).n for _ in range(2)]
        out += [t.i async for t in rt.stream(Address("echo", "d"), Count(n=2))]
        spec_reply = await rt.supervisor("echo").spec.run(Ping().encode(), session_id="d")
        out.append(Pong.decode(spec_reply).n)
        tree = await rt.tree()
        out.append(len(tree.agents[0].sessions))
        return out

    async with LocalRuntime() as local:
        expected = await scenario(local)
    async with NATSRuntime.from_servers(nats_server.url, prefix="dropin") as remote:
        assert await scenario(remote) == expected == [1, 2, 0, 1, 3, 1]


async def test_nats_server_restart_nodes_recover(tmp_path) -> None:
    from coagent.testing import NATSServer

    server = NATSServer(store_dir=str(tmp_path)).start()
    try:
        node = NATSRuntime.from_servers(server.url, name="survivor", prefix="restart")
        client = NATSRuntime.from_servers(server.url, prefix="restart", announce=False)
        async with node, client:
            await node.register(AgentSpec("echo", new(Stateful)))
            assert (await client.ask(Address("echo", "r"), Ping())).n == 1
            server.stop()
            start = time.monotonic()
            with pytest.raises(CoagentError):  # in flight during the outage: a typed error, in time
                await client.ask(Address("echo", "r"), Ping(), timeout=1.0)
            assert time.monotonic() - start < 2.0
            server.start()
            deadline = time.monotonic() + 15
            while True:
                try:
                    reply = await client.ask(Address("echo", "r"), Ping(), timeout=1.0)
                    break
                except CoagentError:
                    assert time.monotonic() < deadline, "the node did not recover"
                    await asyncio.sleep(0.2)
            assert reply.n == 2  # same node, same instance: served again without a restart
            assert (await client.ask(Address("echo", "new-after-restart"), Ping())).n == 1
    finally:
        server.close()


@pytest.mark.parametrize("auth", ["userpass", "token"])
async def test_authentication_passes_through(auth: str) -> None:
    from coagent.errors import TransportError
    from coagent.testing import NATSServer

    args = ["--user", "alice", "--pass", "s3cret"] if auth == "userpass" else ["--auth", "t0ken"]
    with NATSServer(args=args) as server:
        port = server.port
        good = f"nats://alice:s3cret@127.0.0.1:{port}" if auth == "userpass" else f"nats://t0ken@127.0.0.1:{port}"
        async with NATSRuntime.from_servers(good, prefix="auth") as rt:
            await rt.register(AgentSpec("echo", new(Stateful)))
            assert (await rt.ask(Address("echo", "a"), Ping())).n == 1
        options = {"user": "alice", "password": "s3cret"} if auth == "userpass" else {"token": "t0ken"}
        async with NATSRuntime.from_servers(server.url, prefix="auth2", **options) as rt:
            await rt.register(AgentSpec("echo", new(Stateful)))
            assert (await rt.ask(Address("echo", "a"), Ping())).n == 1
        with pytest.raises(TransportError):
            async with NATSRuntime.from_servers(server.url, prefix="auth3", connect_deadline=1.5):
                pass


async def test_long_deadlines_are_kept_too(nodes) -> None:
    """Deadlines of 2 s and more are swept rather than timed one by one: still on time."""
    _, _, client = nodes
    addr = Address("echo", "long-deadline")
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await client.ask(addr, Sleep(seconds=30), timeout=2.5)
    assert 2.5 <= time.monotonic() - start < 2.8
    assert (await client.ask(addr, Ping(), timeout=3)).n == 1  # the handler was cancelled
