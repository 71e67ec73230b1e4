"""Send a user notifications through the center, one every ``--interval`` seconds.

    python examples/original/notification/notifier.py alice --count 5
"""

import argparse
import asyncio

from notification import Center, Notification, Notify

from coagent.core import set_stderr_logger
from coagent.runtimes import NATSRuntime


async def main(server: str, user_id: str, count: int, interval: float):
    async with NATSRuntime.from_servers(server) as runtime:
        for i in range(count):
            msg = Notify(user_id=user_id, notification=Notification(type="news", content=f"item {i}"))
            await runtime.channel.publish(Center.SINGLETON_ADDRESS, msg.encode())
            print(f"sent item {i}", flush=True)
            await asyncio.sleep(interval)


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser()
    parser.add_argument("user_id", type=str)
    parser.add_argument("--server", type=str, default="nats://localhost:4222")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()

    asyncio.run(main(args.server, args.user_id, args.count, args.interval))
