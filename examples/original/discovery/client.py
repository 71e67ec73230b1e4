"""Ask the ``discovery`` agent which agents exist, through the runtime's channel.

    python examples/original/discovery/client.py --namespace team [--recursive] [--inclusive] [--schema]

``--echo NAME`` also sends NAME a message of a type no process defines and prints the echo.
"""

import argparse
import asyncio

from coagent.core import (
    Address,
    DiscoveryQuery,
    DiscoveryReply,
    RawMessage,
    set_stderr_logger,
)
from coagent.runtimes import HTTPRuntime, NATSRuntime


async def main(args: argparse.Namespace):
    runtime = (NATSRuntime.from_servers(args.server) if args.server.startswith("nats://")
               else HTTPRuntime.from_server(args.server))
    async with runtime:
        query = DiscoveryQuery(namespace=args.namespace, recursive=args.recursive,
                               inclusive=args.inclusive, detailed=args.schema)
        raw: RawMessage = await runtime.channel.publish(
            Address(name="discovery"), query.encode(), request=True, probe=False
        )
        for agent in DiscoveryReply.decode(raw).agents:
            line = f"{agent.name}: {agent.description}"
            if args.schema:
                line += " " + str(sorted(op.name for op in agent.operations))
            print(line)

        if args.echo:
            unknown = RawMessage(header={"type": "Greeting"}, content=b'{"text": "hello"}')
            back = await runtime.channel.publish(Address(name=args.echo, id="s1"), unknown, request=True)
            print(f"echo from {args.echo}: {back.type} {back.content.decode()}")


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="nats://localhost:4222")
    parser.add_argument("--namespace", default="")
    parser.add_argument("--recursive", action="store_true")
    parser.add_argument("--inclusive", action="store_true")
    parser.add_argument("--schema", action="store_true")
    parser.add_argument("--echo", default="")
    asyncio.run(main(parser.parse_args()))
