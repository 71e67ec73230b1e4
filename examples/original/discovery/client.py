"""List agents by asking the ``discovery`` agent, as the original's discovery client does.

    python examples/original/discovery/client.py --namespace team [--recursive] [--inclusive] [--schema]

With ``--echo NAME`` it also sends NAME a message of a type no process defines and
prints what comes back (the employees' ``GenericMessage`` catch-all echoes it).
"""

import argparse
import asyncio
import json

from coagent.core import (
    Address,
    DiscoveryQuery,
    DiscoveryReply,
    RawMessage,
    set_stderr_logger,
)
from coagent.runtimes import HTTPRuntime, NATSRuntime


async def main(server: str, namespace: str, recursive: bool, inclusive: bool, schema: bool, echo: str):
    if server.startswith("nats://"):
        runtime = NATSRuntime.from_servers(server)
    elif server.startswith(("http://", "https://")):
        runtime = HTTPRuntime.from_server(server)
    else:
        raise ValueError(f"Unsupported server: {server}")

    async with runtime:
        result: RawMessage = await runtime.channel.publish(
            Address(name="discovery"),
            DiscoveryQuery(
                namespace=namespace,
                recursive=recursive,
                inclusive=inclusive,
                detailed=schema,
            ).encode(),
            request=True,
            probe=False,
        )
        reply: DiscoveryReply = DiscoveryReply.decode(result)

        for agent in reply.agents:
            ops_str = ""
            if schema:
                ops = [{"name": op.name, "description": op.description} for op in agent.operations]
                ops_str = " " + json.dumps(ops)
            print(f"{agent.name}: {agent.description}{ops_str}")

        if echo:
            raw = RawMessage(header={"type": "Greeting"}, content=b'{"text": "hello"}')
            back = await runtime.channel.publish(Address(name=echo, id="s1"), raw, request=True)
            print(f"echo from {echo}: {back.type} {back.content.decode()}")


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser()
    parser.add_argument("--server", type=str, default="nats://localhost:4222")
    parser.add_argument("--namespace", type=str, default="")
    parser.add_argument("--recursive", action="store_true")
    parser.add_argument("--inclusive", action="store_true")
    parser.add_argument("--schema", action="store_true")
    parser.add_argument("--echo", type=str, default="")
    args = parser.parse_args()

    asyncio.run(
        main(args.server, args.namespace, args.recursive, args.inclusive, args.schema, args.echo)
    )
