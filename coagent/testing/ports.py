"""A free loopback port, for tests that need an address nothing listens on (yet)::

    port = free_port()
    url = f"http://127.0.0.1:{port}"      # nothing answers here until you start a server

The port is free when returned; another process may take it later, so start the server
that needs it right away, or use it only for an address meant to refuse connections.
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that no process holds right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
