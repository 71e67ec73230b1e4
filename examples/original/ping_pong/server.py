"""A Pong agent in the original Coagent's style: ``BaseAgent``, ``@handler``, ``idle_loop``.

    python examples/original/ping_pong/server.py --server nats://localhost:4222

Ask it with ``client.py`` beside this file, or from the shell with
``coagent server -H type:Ping`` (no ``-d`` needed: ``Ping`` has no fields).
"""

import argparse
import asyncio

from coagent.core import (
    AgentSpec,
    BaseAgent,
    Context,
    Message,
    handler,
    idle_loop,
    new,
    set_stderr_logger,
)
from coagent.runtimes import HTTPRuntime, NATSRuntime


class Ping(Message):
    pass


class Pong(Message):
    pass


class PongServer(BaseAgent):
    """Answers every Ping with a Pong."""

    @handler
    async def on_ping(self, msg: Ping, ctx: Context) -> Pong:
        """One Pong per Ping."""
        return Pong()


server_spec = AgentSpec("server", new(PongServer))


def make_runtime(server: str, auth: str):
    if server.startswith("nats://"):
        return NATSRuntime.from_servers(server)
    if server.startswith(("http://", "https://")):
        return HTTPRuntime.from_server(server, auth)
    raise ValueError(f"cannot serve on {server!r}: use nats:// or http(s)://")


async def main(server: str, auth: str):
    async with make_runtime(server, auth) as runtime:
        await runtime.register(server_spec)
        print("serving", flush=True)
        await idle_loop()


if __name__ == "__main__":
    set_stderr_logger("TRACE")

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="nats://localhost:4222")
    parser.add_argument("--auth", default="")
    args = parser.parse_args()
    asyncio.run(main(args.server, args.auth))
