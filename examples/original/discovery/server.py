"""A staff member that echoes any message back, for the discovery example.

    python examples/original/discovery/server.py team.alice "Alice, engineering" &
    python examples/original/discovery/server.py team.bob "Bob, sales" &
    python examples/original/discovery/server.py ops.carol "Carol, operations" &
    python examples/original/discovery/server.py ops.carol.pager "Carol's pager" &
    python examples/original/discovery/client.py --namespace team

Its only handler takes ``GenericMessage``, so it answers message types it has never seen.
"""

import argparse
import asyncio

from coagent.core import (
    AgentSpec,
    BaseAgent,
    Context,
    GenericMessage,
    handler,
    idle_loop,
    new,
    set_stderr_logger,
)
from coagent.runtimes import HTTPRuntime, NATSRuntime


class Staff(BaseAgent):
    @handler
    async def echo(self, msg: GenericMessage, ctx: Context) -> GenericMessage:
        return msg  # encodes back to exactly the raw message that came in


async def main(name: str, description: str, server: str):
    runtime = (NATSRuntime.from_servers(server) if server.startswith("nats://")
               else HTTPRuntime.from_server(server))
    async with runtime:
        await runtime.register(AgentSpec(name, new(Staff), description=description))
        print("serving", flush=True)
        await idle_loop()


if __name__ == "__main__":
    set_stderr_logger("TRACE")

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("description")
    parser.add_argument("--server", default="nats://localhost:4222")
    args = parser.parse_args()
    asyncio.run(main(args.name, args.description, args.server))
