"""Publish alerts for a user through the hub, one every ``--interval`` seconds.

    python examples/original/notification/notifier.py alice --count 5
"""

import argparse
import asyncio

from notification import Alert, Hub, Publish

from coagent.core import set_stderr_logger
from coagent.runtimes import NATSRuntime


async def main(server: str, user_id: str, count: int, interval: float):
    async with NATSRuntime.from_servers(server) as runtime:
        for i in range(count):
            msg = Publish(user_id=user_id, alert=Alert(type="news", content=f"item {i}"))
            await runtime.channel.publish(Hub.ADDRESS, msg.encode())
            print(f"sent item {i}", flush=True)
            await asyncio.sleep(interval)


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("user_id")
    parser.add_argument("--server", default="nats://localhost:4222")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    asyncio.run(main(args.server, args.user_id, args.count, args.interval))
