"""Helper for benchmarks/nats.py: the node's agent specs, and a plain nats-py responder.

As a node (serves the ``bench`` AgentSpec below)::

    python -m coagent node benchmarks/nats_node.py --server nats://127.0.0.1:4222 --name bench-node

As the floor's trivial responder (plain nats-py, ``await msg.respond(msg.data)``)::

    python benchmarks/nats_node.py nats://127.0.0.1:4222 bench.echo [--uvloop]
"""

from __future__ import annotations

import os
import sys

# This directory also holds benchmarks/nats.py, which would shadow the nats-py package
# ("import nats") for anything that puts this directory on sys.path: the coagent node
# loader does, and so does running a script from here. Import the real package first.
_HERE = os.path.dirname(os.path.realpath(__file__))
_saved_path = sys.path[:]
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]
try:
    import nats
    import nats.errors
finally:
    sys.path[:] = _saved_path
if not hasattr(nats, "connect"):
    raise ImportError(f"'nats' resolved to {getattr(nats, '__file__', '?')}, not nats-py")

from coagent import Actor, Context, Message, handler  # noqa: E402
from coagent.core import AgentSpec, new  # noqa: E402


class BenchPing(Message):
    n: int = 0


class BenchPong(Message):
    n: int = 0


class BenchEcho(Actor):
    @handler
    async def ping(self, msg: BenchPing, ctx: Context) -> BenchPong:
        return BenchPong(n=msg.n)


def echo_spec(name: str = "bench") -> AgentSpec:
    return AgentSpec(name, new(BenchEcho), idle_timeout=None, mailbox_size=0)


bench = echo_spec("bench")


async def _respond_forever(url: str, subject: str) -> None:
    import asyncio
    import signal

    nc = await nats.connect(url, name="bench-responder")

    async def echo(msg) -> None:  # type: ignore[no-untyped-def]
        await msg.respond(msg.data)

    await nc.subscribe(subject, cb=echo)
    await nc.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await nc.close()


if __name__ == "__main__":
    import asyncio

    argv = [a for a in sys.argv[1:] if a != "--uvloop"]
    if "--uvloop" in sys.argv[1:]:
        import uvloop

        uvloop.install()
    asyncio.run(_respond_forever(argv[0], argv[1] if len(argv) > 1 else "bench.echo"))
