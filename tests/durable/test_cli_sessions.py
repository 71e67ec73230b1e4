"""``coagent sessions`` over a SQLite store and a JetStream store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from coagent.actors.address import Address
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime, NATSRuntime
from coagent.testing import NATSServer
from tests.durable.agents import Add, Boom, Counter

ROOT = Path(__file__).resolve().parents[2]


def coagent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coagent", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, cwd=ROOT,
    )


async def _fill(rt: LocalRuntime | NATSRuntime) -> None:
    await rt.register(AgentSpec("counter", new(Counter), durable=True, max_deliveries=1))
    for i in range(3):
        await rt.tell(Address("counter", "c1"), Add(n=i + 1))
    await rt.tell(Address("counter", "c2"), Add(n=7))
    await rt.tell(Address("counter", "c2"), Boom(reason="no way"))
    await rt.ask(Address("counter", "c2"), Add(n=0), timeout=5)  # after the Boom: handled
    await rt.ask(Address("counter", "c1"), Add(n=0), timeout=5)


async def test_sessions_lists_shows_deletes_and_shows_dead_letters_of_a_sqlite_store(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "state.db")
    async with LocalRuntime(store=db) as rt:
        await _fill(rt)
    listing = coagent("sessions", "--store", db)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["TYPE:SESSION", "SIZE", "UPDATED", "APPLIED", "PENDING"]
    c1 = next(line for line in lines if line.startswith("counter:c1 "))
    assert c1.split()[-2:] == ["4", "0"]  # 3 tells and one ask applied, nothing pending

    as_json = json.loads(coagent("sessions", "--store", db, "--type", "counter", "--json").stdout)
    assert {s["session"] for s in as_json} == {"c1", "c2"}

    shown = coagent("sessions", "show", "counter:c1", "--store", db)
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    assert state["state"] == {"n": 6, "seen": [1, 2, 3, 0]}
    assert state["applied"] == 4 and state["pending"] == []

    dead = coagent("sessions", "dead-letters", "--store", db)
    assert dead.returncode == 0, dead.stderr
    assert "counter:c2  Boom" in dead.stdout and "RuntimeError: no way" in dead.stdout

    assert coagent("sessions", "--store", db, "delete", "counter:c1").stdout.strip() == (
        "deleted counter:c1")
    missing = coagent("sessions", "show", "counter:c1", "--store", db)
    assert missing.returncode == 1 and "no stored session counter:c1" in missing.stderr


def test_sessions_reports_bad_input_clearly(tmp_path: Path) -> None:
    nowhere = coagent("sessions", "--store", str(tmp_path / "none.db"))
    assert nowhere.returncode != 0 and "no store at" in nowhere.stderr
    assert not (tmp_path / "none.db").exists()
    bad = coagent("sessions", "show", "not an address", "--store", str(tmp_path / "x.db"))
    assert bad.returncode == 2 and "TYPE:SESSION" in bad.stderr
    both = coagent("sessions", "--store", "a.db", "--server", "nats://127.0.0.1:1")
    assert both.returncode == 2 and "not both" in both.stderr


async def test_sessions_reads_a_clusters_jetstream_store(nats_server: NATSServer) -> None:
    async with NATSRuntime(nats_server.url, prefix="clis") as rt:
        await _fill(rt)
    listing = coagent("sessions", "-s", nats_server.url, "--prefix", "clis", "--json")
    assert listing.returncode == 0, listing.stderr
    assert {(s["session"], s["applied"]) for s in json.loads(listing.stdout)} == {
        ("c1", 4), ("c2", 2)}
    shown = json.loads(coagent("sessions", "show", "counter:c2", "-s", nats_server.url,
                               "--prefix", "clis").stdout)
    assert shown["state"]["n"] == 7
    dead = json.loads(coagent("sessions", "dead-letters", "-s", nats_server.url, "--prefix",
                              "clis", "--json").stdout)
    assert [(d["message_type"], d["error"]) for d in dead] == [("Boom", "RuntimeError: no way")]
