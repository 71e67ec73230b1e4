"""The NATS transport, one concern per module (see :mod:`.transport` for how they fit).

::

    from coagent.transport.nats import NATSTransport
    node = Node(name="node-a", transport=NATSTransport(["nats://localhost:4222"], name="node-a"))
"""

from coagent.transport.nats.discovery import AgentInfo
from coagent.transport.nats.transport import NATSTransport

__all__ = ["NATSTransport", "AgentInfo"]
