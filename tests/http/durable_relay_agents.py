"""An agent of the gateway's own process that tells the HTTP-served durable counter (the
sender in the gateway's process, for ``tests/http/test_durable_relay.py``)."""

from __future__ import annotations

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new
from tests.durable.agents import Add


class Fan(Message):
    start: int = 0
    count: int = 1


class Fanned(Message):
    count: int = 0


class Fanout(Actor):
    """Tells ``counter:c1`` the addends ``start .. start+count-1``; answers once every tell returned."""

    @handler
    async def fan(self, msg: Fan, ctx: Context) -> Fanned:
        for i in range(msg.start, msg.start + msg.count):
            await ctx.tell(Address("counter", "c1"), Add(n=i))
        return Fanned(count=msg.count)


fanout = AgentSpec("fanout", new(Fanout))
