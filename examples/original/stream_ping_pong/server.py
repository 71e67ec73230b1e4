"""A streaming agent in the original Coagent's style: a handler typed ``AsyncIterator[...]``.

    python examples/original/stream_ping_pong/server.py --server nats://localhost:4222

Its message declares its field with pydantic's ``Field(...)``, as the original's messages did.
"""

import argparse
import asyncio
from collections.abc import AsyncIterator

from pydantic import Field

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


class PartialPong(Message):
    content: str = Field(..., description="One piece of the answer.")


class Countdown(BaseAgent):
    """Answers a Ping with a countdown, one piece at a time."""

    @handler
    async def on_ping(self, msg: Ping, ctx: Context) -> AsyncIterator[PartialPong]:
        """Stream the pieces with a short pause between them."""
        for piece in ("three... ", "two... ", "one... ", "pong!"):
            await asyncio.sleep(0.05)
            yield PartialPong(content=piece)


stream_spec = AgentSpec("stream_server", new(Countdown))


async def main(server: str, auth: str):
    if server.startswith("nats://"):
        runtime = NATSRuntime.from_servers(server)
    elif server.startswith(("http://", "https://")):
        runtime = HTTPRuntime.from_server(server, auth)
    else:
        raise ValueError(f"cannot serve on {server!r}")
    async with runtime:
        await runtime.register(stream_spec)
        print("serving", flush=True)
        await idle_loop()


if __name__ == "__main__":
    set_stderr_logger("TRACE")

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="nats://localhost:4222")
    parser.add_argument("--auth", default="")
    args = parser.parse_args()
    asyncio.run(main(args.server, args.auth))
