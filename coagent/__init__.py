"""Coagent: agents as supervised actors, in one process or across many over NATS.

::

    from coagent import Actor, Address, Context, Message, handler

    class Ping(Message):
        n: int = 0

    class Echo(Actor):
        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Ping:
            return msg
"""

from coagent.actors import Actor, Address, Context, Message, RawMessage, handler
from coagent.errors import CoagentError

__all__ = ["Actor", "Address", "Context", "Message", "RawMessage", "handler", "CoagentError"]
__version__ = "0.1.0"
