"""Durable delivery to a type served over the original's CoS protocol (``--durable-cos``).

The session's state lives in the CoS process, which the protocol gives no way to store; its
tells are durable: in the gateway's store before they return, delivered with a reply topic,
acknowledged by the client's reply, and delivered again to the next subscriber until then
(at least once). Real processes: the gateway, and CoS clients killed with -9.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from coagent.errors import StoreRequired
from coagent.gateway import Gateway
from coagent.runtimes import LocalRuntime
from coagent.testing.ports import free_port
from tests.gateway.test_command import ROOT, Proc, procs, start_gateway

__all__ = ["procs"]

TELL = "/v1/agents/tally/sessions/s1/tell"


class CosClient:
    """``tests/http/cos_tally_client.py`` as a process of its own."""

    def __init__(self, url: str, path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests/http/cos_tally_client.py"), url,
                                      str(path)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not _serves(url):
            assert self.proc.poll() is None, "the CoS client exited"
            assert time.monotonic() < deadline, "the CoS client did not register in 30 s"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _serves(url: str) -> bool:
    try:
        agents = httpx.get(f"{url}/v1/agents", timeout=5).json()["agents"]
    except httpx.HTTPError:
        return False
    return any(a["name"] == "tally" for a in agents)


def _tell(url: str, numbers: range) -> None:
    for n in numbers:
        r = httpx.post(f"{url}{TELL}", json={"type": "Add", "content": {"n": n}}, timeout=30)
        assert r.status_code == 202, r.text


def _tallied(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _until_all(path: Path, count: int, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while set(_tallied(path)) != set(range(count)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _tallied(path)


def test_tells_to_a_durable_cos_type_reach_the_next_client_after_kill_9_and_a_gateway_restart(
        procs: list[Proc], tmp_path: Path) -> None:
    port = free_port()
    args = ("--listen", f"127.0.0.1:{port}", "--store", str(tmp_path / "gw.db"), "--durable-cos", "tally")
    gateway, url = start_gateway(procs, *args)
    tally = tmp_path / "tally.txt"
    clients = [CosClient(url, tally)]
    try:
        _tell(url, range(8))  # each 202 once in the gateway's store; the client takes 300 ms each
        deadline = time.monotonic() + 30
        while len(_tallied(tally)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        clients[0].kill()  # mid-way: one in its handler, the rest waiting at the gateway
        _tell(url, range(8, 12))  # no client serves the type now: still stored
        clients.append(CosClient(url, tally))
        seen = _until_all(tally, 12)
        assert set(seen) == set(range(12))
        assert len(seen) <= 12 + 1  # at least once: only the one in the killed handler may repeat
        # A frozen client handles nothing; then the client and the gateway die.
        os.kill(clients[1].proc.pid, signal.SIGSTOP)
        _tell(url, range(12, 15))
        clients[1].kill()
        gateway.stop(signal.SIGKILL)
        gateway, url = start_gateway(procs, *args)
        clients.append(CosClient(url, tally))
        seen = _until_all(tally, 15)
        assert set(seen) == set(range(15))
        assert len(seen) <= 15 + 2
    finally:
        for client in clients:
            client.kill()


async def test_a_durable_cos_type_on_a_gateway_without_a_store_is_a_typed_error() -> None:
    async with LocalRuntime() as runtime:
        with pytest.raises(StoreRequired, match="need a runtime with a store"):
            Gateway(runtime, durable_cos=["tally"])
        gateway = Gateway(runtime)
        await gateway.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
                r = await client.post("/runtime/register", json={"name": "tally", "durable": True})
            assert r.status_code == 500 and r.json()["code"] == "store_required"
            assert "cannot be durable" in r.json()["message"]
            assert "tally" not in [s.name for s in runtime.specs()]
        finally:
            await gateway.stop()


def test_the_gateway_command_refuses_durable_cos_without_a_store(procs: list[Proc]) -> None:
    proc = Proc("gateway", "--listen", "127.0.0.1:0", "--durable-cos", "tally")
    procs.append(proc)
    assert proc.proc.wait(30) == 2  # a usage error, before it listens
    assert proc.proc.stderr is not None
    assert "--durable-cos needs a store" in proc.proc.stderr.read()


async def test_a_durable_tell_unanswered_by_a_subscriber_that_left_goes_to_the_next_one(
        tmp_path: Path) -> None:
    import asyncio
    from typing import Any

    from tests.http.cos_client import Agent, Runtime

    got_it = asyncio.Event()

    class Stuck(Agent):
        async def handle(self, msg: dict[str, Any]) -> Any:  # type: ignore[override]
            got_it.set()
            await asyncio.Event().wait()  # its connection drops before it answers

    class Quick(Agent):
        async def handle(self, msg: dict[str, Any]) -> Any:  # type: ignore[override]
            return {"header": {"type": "Tallied"}}

    async with LocalRuntime(store=str(tmp_path / "gw.db"), default_timeout=10.0) as runtime:
        gateway = Gateway(runtime, durable_cos=["tally"])
        await gateway.start("127.0.0.1", 0)
        cos = Runtime(gateway.url)
        try:
            await cos.register("tally", Stuck)
            async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
                deadline = time.monotonic() + 10
                while "tally" not in [s.name for s in runtime.specs()]:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                r = await client.post(TELL, json={"type": "Add", "content": {"n": 1}})
                assert r.status_code == 202
            await asyncio.wait_for(got_it.wait(), 10)
            stuck = cos.agents["s1"]
            assert stuck.task is not None
            stuck.task.cancel()  # the subscriber goes away without answering
            store = runtime.durable.store
            assert len(await store.pending("tally")) == 1  # not acknowledged
            again = Quick(stuck.channel, stuck.addr)
            again.task = asyncio.create_task(stuck.channel.subscribe(
                "runtime/channel/subscribe", {"addr": stuck.addr}, again.receive))
            cos.tasks.append(again.task)
            deadline = time.monotonic() + 10
            while await store.pending("tally"):
                assert time.monotonic() < deadline, "the tell was not acknowledged"
                await asyncio.sleep(0.05)
            assert [m["header"]["type"] for m in again.received] == ["Add"]
            assert again.received[0]["reply"]["name"].startswith("_reply.")
        finally:
            await cos.close()
            await gateway.stop()
