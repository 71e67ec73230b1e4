"""Listen to a user's notifications through the user's proxy, then leave.

    python examples/original/notification/subscriber.py alice --count 3
"""

import argparse
import asyncio

from notification import Notification, Subscribe

from coagent.core import Address, set_stderr_logger
from coagent.runtimes import NATSRuntime


async def main(server: str, user_id: str, count: int):
    async with NATSRuntime.from_servers(server) as runtime:
        print("subscribing", flush=True)
        stream = runtime.channel.publish_multi(
            Address(name="proxy", id=user_id), Subscribe(user_id=user_id).encode(), timeout=60
        )
        # ``async with`` closes the stream as soon as we leave it, which cancels the proxy's
        # handler (it unsubscribes), before the runtime disconnects.
        async with stream:
            received = 0
            async for raw in stream:
                notification = Notification.decode(raw)
                print(f"{notification.type}: {notification.content}", flush=True)
                received += 1
                if received == count:
                    break


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser()
    parser.add_argument("user_id", type=str)
    parser.add_argument("--server", type=str, default="nats://localhost:4222")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args()

    asyncio.run(main(args.server, args.user_id, args.count))
