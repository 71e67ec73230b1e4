"""Read the streamed Pong through ``runtime.channel.publish_multi``.

    python examples/original/stream_ping_pong/client.py --server nats://localhost:4222
"""

import argparse
import asyncio

from server import PartialPong, Ping

from coagent.core import Address, set_stderr_logger
from coagent.runtimes import NATSRuntime


async def main(server: str):
    async with NATSRuntime.from_servers(server) as runtime:
        chunks = runtime.channel.publish_multi(Address(name="stream_server", id="s1"), Ping().encode())
        async for chunk in chunks:
            print(PartialPong.decode(chunk).content, end="", flush=True)
        print()


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser()
    parser.add_argument("--server", type=str, default="nats://localhost:4222")
    args = parser.parse_args()

    asyncio.run(main(args.server))
