"""The original's runtime behaviours, on LocalRuntime and, where routing matters, on NATS:
the GenericMessage catch-all, the control lane, the channel, self.channel/address/id,
BaseAgent(timeout=...), and discovery as a message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from coagent.core import (
    Address,
    AgentSpec,
    BaseAgent,
    Context,
    DiscoveryQuery,
    DiscoveryReply,
    GenericMessage,
    Message,
    RawMessage,
    handler,
    new,
)
from coagent.core.messages import Cancel, ControlMessage
from coagent.errors import AgentStopped, CallCancelled, CoagentError, UnknownMessage
from coagent.runtimes import LocalRuntime, NATSRuntime
from coagent.runtimes.channel import ChannelNotSupported

T = 5.0


class Hello(Message):
    text: str = ""


class Echo(BaseAgent):
    @handler
    async def hello(self, msg: Hello, ctx: Context) -> Hello:
        return Hello(text=f"typed {msg.text}")

    @handler
    async def anything(self, msg: GenericMessage, ctx: Context) -> GenericMessage:
        return msg


class Unrelated(Message):
    n: int = 1


class Work(Message):
    steps: int = 3


class Step(Message):
    i: int


class Poke(ControlMessage):
    i: int = 0


class Worker(BaseAgent):
    """Streams until poked; records when each handler ran."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.running = 0
        self.max_running = 0

    @handler
    async def work(self, msg: Work, ctx: Context) -> AsyncIterator[Step]:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            for _ in range(msg.steps):
                yield Step(i=await self.queue.get())
        finally:
            self.running -= 1

    @handler
    async def poke(self, msg: Poke, ctx: Context) -> None:
        await self.queue.put(msg.i)

    @handler
    async def stats(self, msg: Unrelated, ctx: Context) -> Step:
        return Step(i=self.max_running)


class Me(Message):
    pass


class Identity(BaseAgent):
    @handler
    async def me(self, msg: Me, ctx: Context) -> Hello:
        # The channel of the hosting runtime reaches other agents, as in the original.
        reply = await self.channel.publish(Address(name="echo", id=self.address.id),
                                           Hello(text=self.id).encode(), request=True)
        return Hello(text=Hello.decode(reply).text)


@pytest.fixture
async def local() -> AsyncIterator[LocalRuntime]:
    async with LocalRuntime(default_timeout=T) as rt:
        for spec in (AgentSpec("echo", new(Echo)), AgentSpec("worker", new(Worker)),
                     AgentSpec("me", new(Identity))):
            await rt.register(spec)
        yield rt


# ------------------------------------------------------------- GenericMessage


async def test_an_unknown_wire_type_reaches_the_generic_handler_in_its_raw_form(local: LocalRuntime) -> None:
    raw = RawMessage(header={"type": "NeverDefinedAnywhere", "x-extra": "kept"}, content=b'{"a":1}')
    assert await local.ask(Address("echo", "s"), raw) == raw


async def test_a_known_type_with_its_own_handler_does_not_go_to_the_catch_all(local: LocalRuntime) -> None:
    assert await local.ask(Address("echo", "s"), Hello(text="x")) == Hello(text="typed x")
    reply = await local.ask(Address("echo", "s"), Hello(text="y").encode())
    assert Hello.decode(reply) == Hello(text="typed y")


async def test_a_typed_message_without_a_handler_reaches_the_catch_all_encoded(local: LocalRuntime) -> None:
    reply = await local.ask(Address("echo", "s"), Unrelated(n=7))
    assert isinstance(reply, GenericMessage)
    assert reply.raw.type == "Unrelated" and Unrelated.decode(reply.raw) == Unrelated(n=7)


async def test_without_a_catch_all_an_unknown_type_is_still_a_typed_error(local: LocalRuntime) -> None:
    with pytest.raises(UnknownMessage, match="NeverDefined"):
        await local.ask(Address("worker", "s"), RawMessage(header={"type": "NeverDefined"}))


# ---------------------------------------------------------------- control lane


async def _control_lane_serves_pokes_while_work_streams(rt: LocalRuntime | NATSRuntime, session: str) -> None:
    addr = Address("worker", session)
    steps: list[int] = []

    async def consume() -> None:
        async for step in rt.stream(addr, Work(steps=3), timeout=T):
            steps.append(step.i)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)  # the data handler is running and waits for pokes
    for i in (10, 11, 12):
        await rt.tell(addr, Poke(i=i).encode())  # raw, as it arrives over a wire
    await asyncio.wait_for(task, T)
    assert steps == [10, 11, 12]


async def test_a_control_message_is_served_while_a_data_handler_still_runs(local: LocalRuntime) -> None:
    await _control_lane_serves_pokes_while_work_streams(local, "c1")


async def test_data_handlers_stay_strictly_serial_beside_the_control_lane(local: LocalRuntime) -> None:
    addr = Address("worker", "serial")
    first = asyncio.create_task(_collect(local, addr, Work(steps=1)))
    second = asyncio.create_task(_collect(local, addr, Work(steps=1)))
    await asyncio.sleep(0.2)
    await local.tell(addr, Poke(i=1))
    await local.tell(addr, Poke(i=2))
    assert await asyncio.wait_for(first, T) == [1]
    assert await asyncio.wait_for(second, T) == [2]
    assert (await local.ask(addr, Unrelated())).i == 1  # never two data handlers at once


async def _collect(rt: LocalRuntime, addr: Address, msg: Message) -> list[int]:
    return [s.i async for s in rt.stream(addr, msg, timeout=T)]


async def test_cancel_without_a_handler_cancels_the_running_call_and_stops_the_actor(local: LocalRuntime) -> None:
    addr = Address("worker", "cancel")
    task = asyncio.create_task(_collect(local, addr, Work(steps=5)))
    await asyncio.sleep(0.2)
    await local.channel.cancel(addr)
    with pytest.raises(CallCancelled):
        await asyncio.wait_for(task, T)
    tree = await local.tree()
    worker = next(a for a in tree.agents if a.name == "worker")
    for _ in range(50):
        if "cancel" not in {s.session for s in worker.sessions}:
            break
        await asyncio.sleep(0.02)
        worker = next(a for a in (await local.tree()).agents if a.name == "worker")
    assert "cancel" not in {s.session for s in worker.sessions}
    assert Cancel().encode().type == "Cancel"


class Fragile(BaseAgent):
    @handler
    async def poke(self, msg: Poke, ctx: Context) -> Step:
        if msg.i < 0:
            raise RuntimeError("negative poke")
        return Step(i=msg.i)


async def test_a_failing_control_handler_answers_with_the_error_and_keeps_the_actor(local: LocalRuntime) -> None:
    await local.register(AgentSpec("fragile", new(Fragile)))
    addr = Address("fragile", "s")
    assert await local.ask(addr, Poke(i=1)) == Step(i=1)  # starts the instance
    with pytest.raises(CoagentError, match="negative poke"):
        await local.ask(addr, Poke(i=-1))
    assert await local.ask(addr, Poke(i=2)) == Step(i=2)
    tree = await local.tree()
    fragile = next(a for a in tree.agents if a.name == "fragile")
    assert [s.restarts for s in fragile.sessions] == [0]


# --------------------------------------------------------------------- channel


async def test_channel_publish_asks_tells_and_forwards_the_reply(local: LocalRuntime) -> None:
    chan = local.channel
    assert chan is local.channel
    reply = await chan.publish(Address(name="echo", id="c"), Hello(text="a").encode(), request=True,
                               timeout=T, probe=True)
    assert reply.type == "Hello" and Hello.decode(reply).text == "typed a"
    assert await chan.publish(Address(name="worker", id="c"), Poke(i=1).encode()) is None
    # ``reply=`` sends the reply on to another address instead of returning it.
    task = asyncio.create_task(_collect(local, Address("worker", "fwd"), Work(steps=1)))
    await asyncio.sleep(0.2)
    # echo's catch-all answers with the Poke itself, which goes on to the worker.
    forwarded = await chan.publish(Address("echo", "f"),
                                   Poke(i=42).encode(), request=True, reply="worker:fwd")
    assert forwarded is None
    assert await asyncio.wait_for(task, T) == [42]


async def test_channel_publish_multi_streams_raw_replies(local: LocalRuntime) -> None:
    addr = Address(name="worker", id="multi")
    got: list[int] = []

    async def consume() -> None:
        async for raw in local.channel.publish_multi(addr, Work(steps=2).encode(), timeout=T):
            got.append(Step.decode(raw).i)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await local.channel.publish(addr, Poke(i=5).encode())
    await local.channel.publish(addr, Poke(i=6).encode())
    await asyncio.wait_for(task, T)
    assert got == [5, 6]


async def test_raw_subscriptions_are_refused_with_a_typed_error(local: LocalRuntime) -> None:
    with pytest.raises(ChannelNotSupported, match="register an AgentSpec"):
        await local.channel.subscribe(Address("echo"), handler=None)
    with pytest.raises(ChannelNotSupported):
        await local.channel.new_reply_topic()


async def test_inside_an_actor_channel_address_and_id_are_the_originals(local: LocalRuntime) -> None:
    assert await local.ask(Address("me", "abc"), Me()) == Hello(text="typed me.abc")


# ------------------------------------------------------------------ idle timeout


class Forever(BaseAgent):
    def __init__(self) -> None:
        super().__init__(timeout=float("inf"))

    @handler
    async def hello(self, msg: Hello, ctx: Context) -> Hello:
        return msg


class Brief(BaseAgent):
    def __init__(self) -> None:
        super().__init__(timeout=0.2)

    @handler
    async def hello(self, msg: Hello, ctx: Context) -> Hello:
        return msg


async def test_base_agent_timeout_overrides_the_specs_idle_timeout() -> None:
    async with LocalRuntime(default_timeout=T) as rt:
        await rt.register(AgentSpec("forever", new(Forever), idle_timeout=0.1))
        await rt.register(AgentSpec("brief", new(Brief), idle_timeout=0.5))
        await rt.ask(Address("forever", "s"), Hello())
        await rt.ask(Address("brief", "s"), Hello())
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if not rt.supervisor("brief").sessions:
                break
            await asyncio.sleep(0.05)
        assert not rt.supervisor("brief").sessions  # passivated after its own 0.2 s
        await asyncio.sleep(0.5)
        assert list(rt.supervisor("forever").sessions) == ["s"]  # never, whatever the spec says


def test_a_non_positive_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        BaseAgent(timeout=0)


# -------------------------------------------------------------------- discovery

NAMES = ["a", "a.x", "a.x.0", "a.y", "a.y.0", "b", "b.x", "b.y", "b.z.0"]

CASES = [
    (DiscoveryQuery(namespace=""), ["a", "b"]),
    (DiscoveryQuery(namespace="", recursive=True), NAMES),
    (DiscoveryQuery(namespace="a"), ["a.x", "a.y"]),
    (DiscoveryQuery(namespace="a", inclusive=True), ["a", "a.x", "a.y"]),
    (DiscoveryQuery(namespace="a", recursive=True, inclusive=True), ["a", "a.x", "a.x.0", "a.y", "a.y.0"]),
    (DiscoveryQuery(namespace="b", recursive=True), ["b.x", "b.y", "b.z.0"]),
    (DiscoveryQuery(namespace="b.z"), ["b.z.0"]),
    (DiscoveryQuery(namespace="c", recursive=True), []),
]


@pytest.mark.parametrize("query, expected", CASES, ids=[repr(c[0]) for c in CASES])
def test_discovery_matches_names_as_the_original_did(query: DiscoveryQuery, expected: list[str]) -> None:
    assert [n for n in NAMES if query.matches(n)] == expected


def test_a_namespace_matches_whole_tokens_only() -> None:
    assert not DiscoveryQuery(namespace="team").matches("teammate")
    assert DiscoveryQuery(namespace="team").matches("team.mate")


async def test_discovery_is_a_message_to_the_discovery_address_on_local_runtime() -> None:
    async with LocalRuntime(default_timeout=T) as rt:
        for name in NAMES:
            await rt.register(AgentSpec(name, new(Echo), description=f"about {name}"))
        for query, expected in CASES:
            raw = await rt.channel.publish(Address(name="discovery"), query.encode(), request=True)
            reply = DiscoveryReply.decode(raw)
            assert [a.name for a in reply.agents] == expected
            assert all(a.description == f"about {a.name}" and a.operations == [] for a in reply.agents)
        typed = await rt.ask(Address("discovery"), DiscoveryQuery(namespace="a", detailed=True))
        ops = {op.name: op for op in typed.agents[0].operations}
        assert set(ops) == {"hello", "anything"}
        assert ops["hello"].message["$defs"]["Hello"]["properties"]["text"]["type"] == "string"
        assert ops["hello"].reply["$ref"].endswith("/Hello")
        # The built-in agent is not one of the node's agent types.
        assert "discovery" not in {a.name for a in (await rt.tree()).agents}


# ------------------------------------------------------------------------- NATS


@pytest.fixture
async def cluster(nats_server) -> AsyncIterator[tuple[NATSRuntime, NATSRuntime, NATSRuntime]]:
    prefix = f"compat{time.monotonic_ns() % 10**9}"
    a = NATSRuntime.from_servers(nats_server.url, name="node-a", prefix=prefix, default_timeout=T)
    b = NATSRuntime.from_servers(nats_server.url, name="node-b", prefix=prefix, default_timeout=T)
    client = NATSRuntime.from_servers(nats_server.url, prefix=prefix, announce=False, default_timeout=T)
    async with a, b, client:
        await a.register(AgentSpec("team.alice", new(Echo), description="Alice"))
        await a.register(AgentSpec("team", new(Echo), description="the team itself"))
        await b.register(AgentSpec("team.bob", new(Echo), description="Bob"))
        await b.register(AgentSpec("ops.carol", new(Echo), description="Carol"))
        await b.register(AgentSpec("worker", new(Worker)))
        await b.register(AgentSpec("echo", new(Echo)))
        await a.register(AgentSpec("me", new(Identity)))
        yield a, b, client


async def test_discovery_lists_the_agents_of_every_node_whichever_node_is_asked(cluster) -> None:
    a, b, client = cluster
    for rt in (a, b, client):
        raw = await rt.channel.publish(Address(name="discovery"),
                                       DiscoveryQuery(namespace="team").encode(), request=True)
        reply = DiscoveryReply.decode(raw)
        assert [(s.name, s.description) for s in reply.agents] == [("team.alice", "Alice"), ("team.bob", "Bob")]
    reply = await client.ask(Address("discovery"), DiscoveryQuery(namespace="", inclusive=True))
    assert [s.name for s in reply.agents] == ["echo", "me", "team", "worker"]
    reply = await client.ask(Address("discovery"), DiscoveryQuery(namespace="team", inclusive=True))
    assert [s.name for s in reply.agents] == ["team", "team.alice", "team.bob"]


async def test_the_catch_all_gets_an_unknown_type_across_nodes(cluster) -> None:
    _, _, client = cluster
    raw = RawMessage(header={"type": "OnlyTheClientKnowsIt"}, content=b'{"k":"v"}')
    back = await client.channel.publish(Address(name="team.bob", id="s"), raw, request=True)
    assert back.type == "OnlyTheClientKnowsIt" and back.content == b'{"k":"v"}'


async def test_control_messages_overtake_a_running_stream_across_nodes(cluster) -> None:
    _, _, client = cluster
    await _control_lane_serves_pokes_while_work_streams(client, "remote")


async def test_self_channel_reaches_agents_on_other_nodes(cluster) -> None:
    _, _, client = cluster
    assert await client.ask(Address("me", "xyz"), Me()) == Hello(text="typed me.xyz")


async def test_channel_errors_are_the_same_typed_errors_across_nodes(cluster) -> None:
    _, _, client = cluster
    with pytest.raises(CoagentError) as info:
        await client.channel.publish(Address(name="nobody", id="s"), Hello().encode(), request=True,
                                     timeout=1.0)
    assert info.value.code in ("agent_not_found", "deadline_exceeded")
    assert not isinstance(info.value, AgentStopped)
