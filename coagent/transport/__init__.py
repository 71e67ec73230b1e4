"""Transports: how an envelope for an address not served here leaves the node, and arrives.

::

    from coagent.transport.base import Transport          # the protocol a runtime wires in
    from coagent.transport.local import LocalTransport     # everything is in this process
    from coagent.transport.nats import NATSTransport       # over NATS (docs/wire.md)

Transports move bytes and never run handlers; :mod:`.wire` names every header and
marker, :mod:`.deadlines` is the node's one deadline mechanism.
"""
