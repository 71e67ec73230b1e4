"""The HTTP transport: a node behind a Coagent gateway (see :mod:`.transport`).

::

    from coagent.transport.http import HTTPTransport
    runtime = Node(transport=HTTPTransport("http://localhost:8000", auth="T"))
"""

from coagent.transport.http.transport import HTTPTransport

__all__ = ["HTTPTransport"]
