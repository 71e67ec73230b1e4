"""Several node processes on one nats-server: ownership, failover, graceful shutdown, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter as Tally

import pytest

from coagent import Address
from coagent.errors import CoagentError
from tests.cluster import ROOT, start_cluster
from tests.cluster_agents import CCount, CPing, CPong, CTick
from tests.signals import sigint_default


def counter_sessions(trees) -> dict[str, list[str]]:
    """session -> the nodes holding an actor for it."""
    where: dict[str, list[str]] = {}
    for tree in trees:
        for agent in tree.agents:
            if agent.name == "counter":
                for actor in agent.sessions:
                    where.setdefault(actor.session, []).append(tree.node)
    return where


@pytest.fixture(scope="module")
def cluster_url(nats_server):
    return nats_server.url


async def test_ten_thousand_new_sessions_across_three_nodes(cluster_url) -> None:
    procs, client = await start_cluster(cluster_url, "big", 3)
    try:
        n = 10_000
        addrs = [Address("counter", f"s{i}") for i in range(n)]
        start = time.monotonic()
        results = await asyncio.gather(
            *(client.ask(a, CPing(), timeout=60) for a in addrs), return_exceptions=True
        )
        elapsed = time.monotonic() - start
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, f"{len(errors)} errors, first: {errors[0]!r}"
        assert all(isinstance(r, CPong) and r.count == 1 for r in results)
        served_by = Tally(r.node for r in results)
        assert set(served_by) == {p.name for p in procs}, served_by  # the queue group spread them

        where = counter_sessions(await client.cluster_tree(timeout=3))
        assert len(where) == n
        assert all(len(nodes) == 1 for nodes in where.values())  # exactly one actor per session

        sample = addrs[:: n // 500]
        again = await asyncio.gather(*(client.ask(a, CPing()) for a in sample))
        assert all(r.count == 2 for r in again)  # the same instance kept its state
        assert all(where[a.session] == [r.node] for a, r in zip(sample, again, strict=False))
        print(f"\n10,000 first messages over 3 nodes in {elapsed:.2f}s ({n / elapsed:,.0f}/s): {dict(served_by)}")
    finally:
        for p in procs:
            p.stop()
        await client.stop()


async def test_kill_9_under_load_sessions_move_to_survivors(cluster_url) -> None:
    procs, client = await start_cluster(cluster_url, "kill", 3)
    try:
        addrs = [Address("counter", f"k{i}") for i in range(150)]
        first = await asyncio.gather(*(client.ask(a, CPing()) for a in addrs))
        victim = next(p for p in procs if any(r.node == p.name for r in first))
        victims = {a for a, r in zip(addrs, first, strict=False) if r.node == victim.name}

        timeout = 2.0
        durations: list[float] = []
        failures: list[BaseException] = []
        stop_load = asyncio.Event()

        async def load(addr: Address) -> None:
            while not stop_load.is_set():
                start = time.monotonic()
                try:
                    await client.ask(addr, CPing(), timeout=timeout)
                except CoagentError as exc:
                    failures.append(exc)
                durations.append(time.monotonic() - start)
                await asyncio.sleep(0.01)

        loaders = [asyncio.ensure_future(load(a)) for a in addrs]
        await asyncio.sleep(0.5)
        killed_at = time.monotonic()
        victim.signal(signal.SIGKILL)
        victim.proc.wait(5)
        await asyncio.sleep(1.5)
        stop_load.set()
        await asyncio.gather(*loaders)
        assert max(durations) < timeout + 0.5  # no call hung past its deadline

        # Every session of the dead node answers again from a survivor, within 10 s of the kill.
        pending = set(victims)
        while pending:
            assert time.monotonic() - killed_at < 10, f"{len(pending)} sessions did not move"
            replies = await asyncio.gather(*(client.ask(a, CPing(), timeout=2) for a in pending),
                                           return_exceptions=True)
            pending = {a for a, r in zip(list(pending), replies, strict=False) if not isinstance(r, CPong)}
            for r in replies:
                if isinstance(r, CPong):
                    assert r.node != victim.name
        where = counter_sessions(await client.cluster_tree(timeout=2))
        assert victim.name not in {n for nodes in where.values() for n in nodes}
        assert all(len(nodes) == 1 for nodes in where.values())
        print(f"\nkill -9: {len(victims)} sessions moved; {len(failures)} calls failed typed during failover")
    finally:
        for p in procs:
            p.stop()
        await client.stop()


async def test_sigterm_exits_zero_and_sessions_answer_from_survivors(cluster_url) -> None:
    procs, client = await start_cluster(cluster_url, "term", 2)
    try:
        addrs = [Address("counter", f"t{i}") for i in range(60)]
        first = await asyncio.gather(*(client.ask(a, CPing()) for a in addrs))
        leaving = procs[0]
        moved = [a for a, r in zip(addrs, first, strict=False) if r.node == leaving.name]
        assert moved
        start = time.monotonic()
        leaving.signal(signal.SIGTERM)
        assert leaving.proc.wait(10) == 0
        assert time.monotonic() - start < 10
        start = time.monotonic()
        replies = await asyncio.gather(*(client.ask(a, CPing(), timeout=5) for a in moved))
        assert time.monotonic() - start < 3  # at once, not after a claim expiry
        assert all(r.node == procs[1].name and r.count == 1 for r in replies)
    finally:
        for p in procs:
            p.stop()
        await client.stop()


def coagent_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "coagent", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


async def test_cli_against_live_nodes(cluster_url) -> None:
    procs, client = await start_cluster(cluster_url, "cli", 2)
    try:
        base = ["--server", cluster_url, "--prefix", "cli"]
        run = lambda *a: asyncio.to_thread(coagent_cli, *a)  # noqa: E731

        proc = await run("counter:c1", "-H", "type:CPing", "-d", "{}", *base)
        assert proc.returncode == 0, proc.stderr
        reply = json.loads(proc.stdout)
        assert reply["header"]["type"] == "CPong" and reply["content"]["count"] == 1
        proc = await run("counter:c1", "-H", "type:CPing", "-d", "{}", "-F", ".content.count", *base)
        assert proc.stdout.strip() == "2"

        proc = await run("counter:c1", "-H", "type:CCount", "-d", '{"n": 3}', "--stream", *base)
        assert [json.loads(line)["content"]["i"] for line in proc.stdout.splitlines()] == [0, 1, 2]
        proc = await run("counter:c1", "-H", "type:CCount", "-d", '{"n": 3}', "--stream",
                         "--oneline", "-F", ".content.i", *base)
        assert proc.stdout.strip() == "012"

        proc = await run("agents", *base)
        assert proc.returncode == 0 and "counts pings per session" in proc.stdout
        proc = await run("agents", "--json", "--namespace", "team", *base)
        rows = json.loads(proc.stdout)
        assert [r["name"] for r in rows] == ["team.billing"]
        assert sorted(rows[0]["nodes"]) == sorted(p.name for p in procs)

        await client.ask(Address("team.a", "c2"), CPing())
        proc = await run("tree", "--json", *base)
        trees = json.loads(proc.stdout)
        assert sorted(t["node"] for t in trees) == sorted(p.name for p in procs)
        actors = [s for t in trees for a in t["agents"] for s in a["sessions"]]
        team = [s for s in actors if s["name"] == "team"]
        assert len(team) == 1 and [c["name"] for c in team[0]["children"]] == ["team.a", "team.b"]
        proc = await run("tree", *base)
        assert proc.returncode == 0 and "counter:c1" in proc.stdout and "team.a:c2" in proc.stdout

        for args, message in [
            (("nobody", "-H", "type:CPing", "-d", "{}"), "no node serves agent 'nobody'"),
            (("counter", "-H", "type:Nope", "-d", "{}"), "no handler for message type 'Nope'"),
            (("counter", "-H", "type:CSleep", "-d", '{"seconds": 5}', "--timeout", "0.3"), "within 0.3s"),
        ]:
            proc = await run(*args, *base)
            assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1
        proc = await run("counter:>", "-H", "type:CPing", *base)
        assert proc.returncode == 2 and "invalid session id" in proc.stderr
        proc = await run("counter", "-H", "type:CPing", "--server", "nats://127.0.0.1:1")
        assert proc.returncode == 1 and "cannot connect" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        for p in procs:
            p.stop()
        await client.stop()


async def test_ctrl_c_cancels_the_remote_handler(cluster_url) -> None:
    procs, client = await start_cluster(cluster_url, "ctrlc", 1)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cli = subprocess.Popen(
            [sys.executable, "-m", "coagent", "counter:cc", "-H", "type:CCount", "-d",
             '{"n": 1000, "delay": 0.01}', "--stream", "--server", cluster_url, "--prefix", "ctrlc"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=sigint_default,
        )
        assert cli.stdout is not None
        cli.stdout.readline()  # streaming has begun
        cli.send_signal(signal.SIGINT)
        assert cli.wait(10) == 130
        start = time.monotonic()
        reply = await client.ask(Address("counter", "cc"), CPing(), timeout=5)
        assert time.monotonic() - start < 1.0  # not stuck behind the 10-second stream
        assert reply.count == 1
        _ = CTick, CCount
    finally:
        for p in procs:
            p.stop()
        await client.stop()
