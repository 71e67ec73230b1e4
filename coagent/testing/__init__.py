"""Coagent's public test kit.

- :class:`NATSServer`: a real ``nats-server`` on a free port, stopped by PID.
- pytest fixtures (``nats_server``) in :mod:`coagent.testing.pytest_plugin`; enable them with
  ``pytest_plugins = ["coagent.testing.pytest_plugin"]`` in your ``conftest.py``.
"""

from coagent.testing.nats_server import NATSServer, find_nats_server

__all__ = ["NATSServer", "find_nats_server"]
