"""Alerts for users: one singleton hub, one long-lived relay per user.

    python examples/original/notification/notification.py --server nats://localhost:4222 &
    python examples/original/notification/subscriber.py alice &   # streams alice's alerts
    python examples/original/notification/notifier.py alice        # publishes a few

A user's relay (session = the user id) streams from its ``watch`` handler for as long as
the user listens. The hub hands it each alert as a ``ControlMessage``; the relay's
control handler runs while ``watch`` is still streaming and only queues the alert.
Both agents set ``timeout=float("inf")``, so idle passivation never ends them.
"""

import argparse
import asyncio
from collections.abc import AsyncIterator

from coagent.core import (
    Address,
    AgentSpec,
    BaseAgent,
    Context,
    Message,
    handler,
    idle_loop,
    logger,
    new,
    set_stderr_logger,
)
from coagent.core.messages import ControlMessage
from coagent.runtimes import NATSRuntime


class Alert(Message):
    type: str
    content: str


class Watch(Message):
    """From a user to their relay: stream my alerts."""

    user_id: str


class Publish(Message):
    """From anyone to the hub: alert this user."""

    user_id: str
    alert: Alert


class _Register(Message):
    user_id: str
    relay: Address


class _Unregister(Message):
    user_id: str


class _Deliver(ControlMessage):
    """From the hub to a relay; served beside the relay's running ``watch``."""

    alert: Alert


class Relay(BaseAgent):
    """Registers its user with the hub and streams the alerts the hub delivers."""

    def __init__(self):
        super().__init__(timeout=float("inf"))  # lives until the user stops watching
        self.inbox: asyncio.Queue[Alert] = asyncio.Queue()

    @handler
    async def deliver(self, msg: _Deliver, ctx: Context) -> None:
        self.inbox.put_nowait(msg.alert)

    @handler
    async def watch(self, msg: Watch, ctx: Context) -> AsyncIterator[Alert]:
        await self.channel.publish(Hub.ADDRESS, _Register(user_id=msg.user_id, relay=self.address).encode())
        try:
            while True:
                yield await self.inbox.get()
        except asyncio.CancelledError:
            # The user left: stop the hub from delivering here.
            await self.channel.publish(Hub.ADDRESS, _Unregister(user_id=msg.user_id).encode())
            raise


class Hub(BaseAgent):
    """Knows each watching user's relay and delivers their alerts to it."""

    ADDRESS = Address(name="hub", id="singleton")

    def __init__(self):
        super().__init__(timeout=float("inf"))  # one for the whole application
        self.relays: dict[str, Address] = {}

    @handler
    async def register(self, msg: _Register, ctx: Context) -> None:
        self.relays[msg.user_id] = msg.relay
        logger.info(f"{msg.user_id} is watching")

    @handler
    async def unregister(self, msg: _Unregister, ctx: Context) -> None:
        self.relays.pop(msg.user_id, None)
        logger.info(f"{msg.user_id} stopped watching")

    @handler
    async def publish(self, msg: Publish, ctx: Context) -> None:
        relay = self.relays.get(msg.user_id)
        if relay is None:
            logger.warning(f"{msg.user_id} is not watching; alert dropped")
            return
        await self.channel.publish(relay, _Deliver(alert=msg.alert).encode())
        logger.info(f"alert delivered to {msg.user_id}")


relay = AgentSpec("relay", new(Relay))
hub = AgentSpec("hub", new(Hub))


async def main(server: str):
    async with NATSRuntime.from_servers(server) as runtime:
        await runtime.register(relay)
        await runtime.register(hub)
        print("serving", flush=True)
        await idle_loop()


if __name__ == "__main__":
    set_stderr_logger()

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="nats://localhost:4222")
    asyncio.run(main(parser.parse_args().server))
