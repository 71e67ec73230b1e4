"""Ping the Pong server through the runtime's channel, as the original's clients do.

    python examples/original/ping_pong/client.py --server nats://localhost:4222
"""

import argparse
import asyncio

from server import Ping, Pong

from coagent.core import Address, RawMessage, set_stderr_logger
from coagent.runtimes import NATSRuntime


async def main(server: str, count: int):
    async with NATSRuntime.from_servers(server) as runtime:
        for i in range(count):
            result: RawMessage = await runtime.channel.publish(
                Address(name="server", id=f"session-{i}"),
                Ping().encode(),
                request=True,
                timeout=10,
                probe=False,
            )
            Pong.decode(result)  # raises unless the reply is a Pong
            print(f"ping {i}: {result.type}")


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser()
    parser.add_argument("--server", type=str, default="nats://localhost:4222")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args()

    asyncio.run(main(args.server, args.count))
