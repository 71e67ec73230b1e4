"""The pattern tests of ``test_patterns.py`` on ``NATSRuntime``, agents spread over node processes.

Two ``coagent node`` processes serve ``tests/pattern_agents.py:node_one`` and ``:node_two``
(started once for the module, on their own subject prefix); a third one, serving
``:node_three``, joins during the triage test. The test process is a pure client
(``announce=False``): every pattern runs on a node and its children on the other one
(see the table in ``tests/pattern_agents.py``), so each step crosses NATS.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coagent import Address
from coagent.agents import ChatMessage
from coagent.agents.patterns import MaxHandoffsExceeded, NoRoute, StepEvent, StepFailed
from coagent.errors import DeadlineExceeded
from coagent.runtimes import NATSRuntime
from tests import pattern_agents

ROOT = Path(__file__).resolve().parent.parent
AGENTS = "tests/pattern_agents.py"
PREFIX = "pat"
NODE_ONE, NODE_TWO, NODE_THREE = f"{PREFIX}-one", f"{PREFIX}-two", f"{PREFIX}-three"


class PatternNode:
    """``coagent node tests/pattern_agents.py:<attr>``, stopped by PID; stderr to a file."""

    def __init__(self, url: str, name: str, attr: str, logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COAGENT_NODE": name}
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "coagent", "node", f"{AGENTS}:{attr}", "--server", url,
                 "--name", name, "--prefix", PREFIX],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            )

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


async def wait_for_agents(client: NATSRuntime, nodes: list[PatternNode], timeout: float = 30.0) -> None:
    """Until every spec of ``nodes`` is announced by its node (registered, not just connected)."""
    want = {(spec.name, node.name) for node in nodes for spec in getattr(pattern_agents, _attr(node))}
    deadline = time.monotonic() + timeout
    while True:
        seen = {(info.name, info.node) for info in await client.agents(timeout=0.5)}
        if want <= seen:
            return
        dead = [n for n in nodes if n.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            tails = "\n".join(f"--- {n.name}:\n{n.stderr_tail()}" for n in nodes)
            missing = sorted(want - seen)[:10]
            raise AssertionError(f"agents {missing} did not come up\n{tails}")
        await asyncio.sleep(0.1)


def _attr(node: PatternNode) -> str:
    return {NODE_ONE: "node_one", NODE_TWO: "node_two", NODE_THREE: "node_three"}[node.name]


class Cluster:
    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.procs = [PatternNode(url, NODE_ONE, "node_one", logs), PatternNode(url, NODE_TWO, "node_two", logs)]
        self.ready = False


@pytest.fixture(scope="module")
def cluster(nats_server, tmp_path_factory):
    cluster = Cluster(nats_server.url, tmp_path_factory.mktemp("pattern-nodes"))
    try:
        yield cluster
    finally:
        for proc in cluster.procs:
            proc.stop()


@pytest.fixture
async def client(cluster: Cluster):
    rt = NATSRuntime.from_servers(cluster.url, prefix=PREFIX, announce=False, default_timeout=30)
    await rt.start()
    try:
        if not cluster.ready:
            await wait_for_agents(rt, cluster.procs)
            cluster.ready = True
        yield rt
    finally:
        await rt.stop()


def chat(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def text_of(stream) -> str:
    return "".join([c.content async for c in stream if isinstance(c, ChatMessage)])


# ----------------------------------------------------------------- tests


async def test_the_agents_are_spread_over_two_nodes(client: NATSRuntime) -> None:
    where: dict[str, set[str]] = {}
    for info in await client.agents(timeout=0.5):
        where.setdefault(info.name, set()).add(info.node)
    assert where["chain"] == {NODE_ONE} and where["a"] == {NODE_ONE}
    assert where["b"] == where["c"] == {NODE_TWO}
    assert where["triage"] == {NODE_ONE} and where["team.account"] == {NODE_TWO}
    assert where["team.billing"] == {NODE_ONE, NODE_TWO}
    assert where["fan"] == {NODE_ONE} and where["ab"] == where["nest.fan"] == {NODE_TWO}
    assert "team.tech" not in where  # node three comes later
    assert sorted(await client.nodes(timeout=0.5)) == [NODE_ONE, NODE_TWO]  # the client is no node


async def test_sequential_chains_steps_and_streams_the_last(client: NATSRuntime) -> None:
    reply = await client.ask(Address("chain", "seq1"), chat("x"))
    assert isinstance(reply, ChatMessage) and reply.content == "C(B(A(x)))"
    chunks = [c async for c in client.stream(Address("chain", "seq2"), chat("hello big world"))]
    assert all(isinstance(c, ChatMessage) for c in chunks)
    assert len(chunks) >= 3  # word by word: the last step's deltas cross two hops as deltas
    assert "".join(c.content for c in chunks) == "C(B(A(hello big world)))"
    events = [c async for c in client.stream(Address("chain_events", "seq3"), chat("z"))]
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [(e.path, e.message.content) for e in steps] == [
        ("chain_events/a", "A(z)"), ("chain_events/b", "B(A(z))"),
    ]
    assert "".join(c.content for c in events if isinstance(c, ChatMessage)) == "C(B(A(z)))"
    # The pattern on node two, its first step on node one.
    assert (await client.ask(Address("duo", "seq4"), chat("y"))).content == "C(A(y))"


async def test_concurrent_sessions_never_mix_replies(client: NATSRuntime) -> None:
    inputs = [f"req{i}" for i in range(40)]
    replies = await asyncio.gather(*(client.ask(Address("chain", f"cc{i}"), chat(t)) for i, t in enumerate(inputs)))
    assert [r.content for r in replies] == [f"C(B(A({t})))" for t in inputs]

    async def streamed(i: int) -> str:
        return await text_of(client.stream(Address("duo", f"ct{i}"), chat(f"q {i}")))

    assert await asyncio.gather(*(streamed(i) for i in range(20))) == [f"C(A(q {i}))" for i in range(20)]


async def test_inline_steps_are_supervised_children(client: NATSRuntime) -> None:
    assert (await client.ask(Address("pipe", "in1"), chat("x"))).content == "2(1(x))"
    found = [(t.node, t.find("pipe", "in1")) for t in await client.cluster_tree(timeout=1.0)]
    found = [(node, actor) for node, actor in found if actor is not None]
    assert len(found) == 1 and found[0][0] == NODE_TWO
    assert [c.name for c in found[0][1].children] == ["pipe.first", "pipe.second"]
    assert (await client.ask(Address("pipe.first", "in1"), chat("direct"))).content == "1(direct)"


async def test_parallel_aggregates_and_applies_the_failure_policy(client: NATSRuntime) -> None:
    reply = await client.ask(Address("both", "par"), chat("plan"))
    assert reply.content == "customer:\ncustomer(plan)\n\ninvestor:\ninvestor(plan)"
    with pytest.raises(StepFailed, match="crashy") as info:
        await client.ask(Address("strict", "par"), chat("plan"))
    assert info.value.details["cause"] == "agent_crashed"
    start = time.monotonic()
    reply = await client.ask(Address("partial", "par"), chat("plan"))
    assert time.monotonic() - start < 2
    assert "customer(plan)" in reply.content
    assert "crashy failed: RuntimeError: branch exploded" in reply.content
    assert "slow failed:" in reply.content
    # An ordinary (streaming) chat agent as aggregator gets the answers as a prompt.
    text = await text_of(client.stream(Address("llm_agg", "par"), chat("plan")))
    assert text.startswith("sum(plan") and "investor(plan)" in text
    assert (await client.ask(Address("no_agg", "par"), chat("q"))).content.startswith("customer:")


async def test_parallel_branches_run_concurrently(client: NATSRuntime) -> None:
    start = time.monotonic()
    reply = await client.ask(Address("wide", "conc"), chat("go"))
    assert time.monotonic() - start < 1.2  # five 0.3 s branches on two nodes, not 1.5 s
    assert [line for line in reply.content.splitlines() if line.endswith(":")] == [f"w{i}:" for i in range(5)]


async def test_dynamic_triage_routes_and_discovers_new_agents(cluster: Cluster, client: NATSRuntime) -> None:
    chunks = [c async for c in client.stream(Address("triage", "u1"), chat("my invoice is wrong"))]
    assert "".join(c.content for c in chunks) == "Billing Support Response: my invoice is wrong"
    # team.account lives only on the other node.
    reply = await client.ask(Address("triage", "u2"), chat("reset my password"))
    assert reply.content == "Account Support Response: reset my password"
    reply = await client.ask(Address("triage", "u3"), chat("my laptop is broken"))
    assert reply.content == "I can only help with billing and accounts."
    looked = time.monotonic()

    # An agent registered later, on a node that joins later, is found at the next request.
    third = PatternNode(cluster.url, NODE_THREE, "node_three", cluster.logs)
    try:
        await wait_for_agents(client, [third])
        await asyncio.sleep(max(0.0, looked + 1.2 - time.monotonic()))  # the triage's discovery cache (1 s)
        reply = await client.ask(Address("triage", "u4"), chat("my laptop is broken"))
        assert reply.content == "Tech: my laptop is broken"
    finally:
        third.stop()
    with pytest.raises(NoRoute):
        await client.ask(Address("lonely", "u5"), chat("hello"))


async def test_handoffs_move_the_conversation(client: NATSRuntime) -> None:
    # Inline agents (children of the pattern on node one), then registered agents on both nodes.
    for pattern in ("support", "desk"):
        reply = await client.ask(Address(pattern, "h1"), chat("I want my money back"))
        assert reply.content == "refunds here, history has 1 messages" and reply.sender == "refunds"
        reply = await client.ask(Address(pattern, "h1"), chat("thanks"))
        assert reply.sender == "refunds" and "history has 3 messages" in reply.content  # stays with refunds
    for pattern in ("loop", "bounce"):
        with pytest.raises(MaxHandoffsExceeded):
            await client.ask(Address(pattern, "h2"), chat("go"))


async def test_group_chat_turns_and_termination(client: NATSRuntime) -> None:
    turns = [t async for t in client.stream(Address("review", "g1"), chat("write a poem"))]
    assert [(t.sender, t.content) for t in turns] == [
        ("writer", "draft 1"), ("critic", "critic round 2"), ("writer", "draft 3"), ("critic", "APPROVED"),
    ]
    last = await client.ask(Address("short", "g2"), chat("go"))
    assert (last.sender, last.content) == ("writer", "draft 3")
    turns = [t async for t in client.stream(Address("picky", "g3"), chat("go"))]
    assert [t.sender for t in turns] == ["critic", "critic"]


async def test_patterns_nest_across_nodes(client: NATSRuntime) -> None:
    # nest_triage (one) -> nest.fan (two) -> fan (one) -> [ab (two) -> a (one), b (two)], c (two); then c
    text = await text_of(client.stream(Address("nest_triage", "n1"), chat("x")))
    assert text == "C(ab:\nB(A(x))\n\nc:\nC(x))"
    reply = await client.ask(Address("nest_triage", "n2"), chat("y"))
    assert reply.content == "C(ab:\nB(A(y))\n\nc:\nC(y))"


async def probe(client: NATSRuntime) -> dict[str, int]:
    reply = await client.ask(Address("slow_probe", "p"), chat("?"), timeout=5)
    return {k: int(v) for k, v in (part.split("=") for part in reply.content.split())}


async def test_deadlines_reach_every_child_and_nothing_hangs(client: NATSRuntime) -> None:
    before = await probe(client)
    for name in ("slow_chain", "slow_fan"):
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await client.ask(Address(name, "d1"), chat("x"), timeout=0.3)
        assert time.monotonic() - start < 1.3
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        async for _ in client.stream(Address("slow_chain", "d2"), chat("x"), timeout=0.3):
            pass
    assert time.monotonic() - start < 1.3

    # The slow children on the other node were cancelled, not left running for 30 s.
    limit = time.monotonic() + 2.0
    while True:
        now = await probe(client)
        if now["running"] == 0 or time.monotonic() > limit:
            break
        await asyncio.sleep(0.1)
    assert now["started"] > before["started"]
    assert now["running"] == 0, now
    assert now["cancelled"] - before["cancelled"] == now["started"] - before["started"], (before, now)


async def test_cancelling_the_caller_cancels_the_children_on_other_nodes(client: NATSRuntime) -> None:
    before = await probe(client)

    async def call(name: str, streaming: bool) -> None:
        if streaming:
            async for _ in client.stream(Address(name, "x1"), chat("x"), timeout=20):
                pass
        else:
            await client.ask(Address(name, "x1"), chat("x"), timeout=20)

    for name, streaming in (("slow_chain", False), ("slow_fan", False), ("slow_chain", True)):
        task = asyncio.ensure_future(call(name, streaming))
        limit = time.monotonic() + 5.0
        while (await probe(client))["running"] == 0:  # the slow child has started on node two
            assert time.monotonic() < limit and not task.done()
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        limit = time.monotonic() + 2.0
        while (now := await probe(client))["running"] and time.monotonic() < limit:
            await asyncio.sleep(0.05)
        assert now["running"] == 0, (name, streaming, now)  # not left running for 30 s
    assert now["cancelled"] - before["cancelled"] == now["started"] - before["started"] >= 3, (before, now)
