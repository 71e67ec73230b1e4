"""Offline mode for examples: a fake model unless a real provider is configured::

    from coagent.testing import Reply, serve_offline

    server = serve_offline(lambda request: Reply("hi"))   # None when MODEL_* names a provider
    client = ModelClient()                                  # reaches the fake server over HTTP
    ...
    if server is not None:
        server.close()

With any ``MODEL_*`` variable set, nothing starts and the example asks that provider.
"""

from __future__ import annotations

import os
from typing import Any

from coagent.agents.model import ENV_API_BASE, ENV_API_KEY, ENV_API_VERSION, ENV_MODEL
from coagent.testing.fake_openai import FakeOpenAIServer

__all__ = ["MODEL_VARIABLES", "serve_offline"]

#: The environment a ``ModelClient()`` reads its provider from.
MODEL_VARIABLES = (ENV_MODEL, ENV_API_BASE, ENV_API_VERSION, ENV_API_KEY)


def serve_offline(respond: Any) -> FakeOpenAIServer | None:
    """Start a :class:`FakeOpenAIServer` answering every request with ``respond(request)``
    and point ``MODEL_*`` at it, unless a provider is configured (then ``None``)."""
    if any(os.getenv(name) for name in MODEL_VARIABLES):
        return None
    server = FakeOpenAIServer(default=respond).start_in_thread()
    os.environ.update(server.env())
    return server
