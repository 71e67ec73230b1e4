"""Watch a user's alerts through the user's relay, then leave.

    python examples/original/notification/subscriber.py alice --count 3
"""

import argparse
import asyncio

from notification import Alert, Watch

from coagent.core import Address, set_stderr_logger
from coagent.runtimes import NATSRuntime


async def main(server: str, user_id: str, count: int):
    async with NATSRuntime.from_servers(server) as runtime:
        print("subscribing", flush=True)
        stream = runtime.channel.publish_multi(
            Address(name="relay", id=user_id), Watch(user_id=user_id).encode(), timeout=60
        )
        # ``async with`` closes the stream as soon as we leave it, which cancels the relay's
        # handler (it unregisters) before the runtime disconnects.
        async with stream:
            seen = 0
            async for raw in stream:
                alert = Alert.decode(raw)
                print(f"{alert.type}: {alert.content}", flush=True)
                seen += 1
                if seen == count:
                    break


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("user_id")
    parser.add_argument("--server", default="nats://localhost:4222")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.server, args.user_id, args.count))
