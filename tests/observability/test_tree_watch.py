"""``coagent tree --watch``: redrawn in place on a real terminal (a pty) as sessions start,
crash, restart and passivate, over NATS and through a gateway."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from coagent import Address
from coagent.core import AgentSpec, new
from coagent.gateway import Gateway, Tokens
from coagent.runtimes import HTTPRuntime, LocalRuntime, NATSRuntime
from coagent.testing import NATSServer
from tests.observability.test_spans import Boom, Fine, Fragile

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A subprocess on a pseudo-terminal, its output collected as it comes."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", "LINES": "60", "TERM": "xterm"}
        self.proc = subprocess.Popen([sys.executable, "-m", "coagent", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True)
        os.close(slave)
        self.master = master
        self.raw = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.raw += data

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    async def wait_for(self, pattern: str, after: int = 0, timeout: float = 30.0) -> int:
        """Wait until ``pattern`` shows at or past text offset ``after``; its offset."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.text, after)
            if found:
                return found.start()
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{pattern!r} never showed; the terminal has:\n{self.text[-3000:]}")
            await asyncio.sleep(0.05)

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(10)
        self._reader.join(5)
        os.close(self.master)
        return code


async def test_tree_watch_redraws_in_place_as_sessions_start_crash_restart_and_passivate(
    nats_server: NATSServer,
) -> None:
    async with NATSRuntime.from_servers(nats_server.url, prefix="otelw", name="watched") as node:
        await node.register(AgentSpec("fragile", new(Fragile)))
        term = Terminal("tree", "--watch", "--interval", "0.2", "--server", nats_server.url,
                        "--prefix", "otelw")
        try:
            at = await term.wait_for(r"coagent tree .*1 node\(s\), 0 session\(s\)")
            await term.wait_for(r"fragile\s+Fragile", at)
            await node.ask(Address("fragile", "alice"), Fine())
            at = await term.wait_for(r"fragile:alice\s+Fragile\s+idle", at)
            with pytest.raises(Exception, match="kaput"):
                await node.ask(Address("fragile", "alice"), Boom())
            await node.ask(Address("fragile", "alice"), Fine())
            at = await term.wait_for(r"fragile:alice\s+Fragile\s+idle\s+restarts=1.*last error: RuntimeError: kaput", at)
            await term.wait_for(r"1 restart\(s\)", at)
            assert await node.passivate(Address("fragile", "alice"))
            at = await term.wait_for(r"1 node\(s\), 0 session\(s\)", at)
        finally:
            code = term.close()
    # In place: rich moves the cursor up over the previous frame instead of appending.
    raw = term.raw.decode("utf-8", "replace")
    assert re.search(r"\x1b\[\d*A", raw), "no cursor-up: the tree was appended, not redrawn"
    assert "Traceback" not in term.text
    assert code in (0, 130)


async def test_tree_watch_through_a_gateway_redraws_sessions_and_rides_out_a_gateway_restart() -> None:
    async with LocalRuntime(name="hub") as runtime:
        await runtime.register(AgentSpec("fragile", new(Fragile)))
        gateway = Gateway(runtime, tokens=Tokens(["tok"]))
        url = await gateway.start("127.0.0.1", 0)
        port = int(url.rsplit(":", 1)[1])
        term = Terminal("tree", "--watch", "--interval", "0.2", "--server", url, "--auth", "tok")
        try:
            at = await term.wait_for(r"coagent tree http://.*1 node\(s\), 0 session\(s\)")
            async with HTTPRuntime.from_server(url, "tok", name="worker") as worker:
                await worker.register(AgentSpec("remote", new(Fragile)))
                await runtime.ask(Address("remote", "bob"), Fine())  # served by the worker process
                at = await term.wait_for(r"remote:bob\s+Relay\s+idle", at)
            await runtime.ask(Address("fragile", "alice"), Fine())
            at = await term.wait_for(r"fragile:alice\s+Fragile\s+idle", at)
            with pytest.raises(Exception, match="kaput"):
                await runtime.ask(Address("fragile", "alice"), Boom())
            await runtime.ask(Address("fragile", "alice"), Fine())
            at = await term.wait_for(r"fragile:alice\s+Fragile\s+idle\s+restarts=1", at)
            await gateway.stop()
            at = await term.wait_for(r"cannot read the tree \(TransportError", at)
            assert term.proc.poll() is None  # still watching
            gateway = Gateway(runtime, tokens=Tokens(["tok"]))
            await gateway.start("127.0.0.1", port)
            at = await term.wait_for(r"1 node\(s\), 1 session\(s\), 1 restart\(s\)", at)
        finally:
            code = term.close()
            await gateway.stop()
    assert "Traceback" not in term.text
    assert code in (0, 130)
