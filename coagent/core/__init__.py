"""The original Coagent's ``coagent.core``: the names its programs import, on our runtime.

::

    from coagent.core import (AgentSpec, BaseAgent, Context, GenericMessage, Message, handler,
                              idle_loop, new, set_stderr_logger)

    class Server(BaseAgent):
        @handler
        async def handle(self, msg: Ping, ctx: Context) -> Pong:
            return Pong()

    pong_server = AgentSpec("server", new(Server))

``BaseAgent`` is :class:`coagent.Actor`; ``Constructor`` is what ``new`` returns; the
error names of the original are in :mod:`coagent.core.exceptions`, its extra messages
(``ControlMessage``, ``Cancel``, ...) in :mod:`coagent.core.messages`.
"""

from coagent.actors import Actor, Address, Context, Message, RawMessage, handler
from coagent.actors.message import GenericMessage
from coagent.core.messages import SetReplyAgent, StopIteration
from coagent.core.types import Agent, BaseRuntime, Constructor, MessageHeader, Subscription
from coagent.core.util import exit_loop, idle_loop
from coagent.logging import logger, set_stderr_logger
from coagent.runtimes.channel import Channel
from coagent.runtimes.discovery import DiscoveryQuery, DiscoveryReply, Operation, Schema
from coagent.supervision import AgentSpec, ChildSpec, Supervisor, new

#: The original's name for :class:`~coagent.actors.Actor` (the same class).
BaseAgent = Actor
#: The original's name for the channel class.
BaseChannel = Channel

__all__ = [
    "Actor", "Address", "Agent", "AgentSpec", "BaseAgent", "BaseChannel", "BaseRuntime",
    "Channel", "ChildSpec", "Constructor", "Context", "DiscoveryQuery", "DiscoveryReply",
    "GenericMessage", "Message", "MessageHeader", "Operation", "RawMessage", "Schema",
    "SetReplyAgent", "StopIteration", "Subscription", "Supervisor", "exit_loop", "handler",
    "idle_loop", "logger", "new", "set_stderr_logger",
]
