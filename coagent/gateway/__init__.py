"""The HTTP gateway: a node's agents reachable from any HTTP client.

::

    from coagent.gateway import Gateway, Tokens

    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("echo", new(Echo)))
        gateway = Gateway(runtime, tokens=Tokens(["s3cret"]))
        url = await gateway.start("127.0.0.1", 0)
        # curl -H 'Authorization: Bearer s3cret' -d '{"type": "Ping", "content": {"n": 1}}' \\
        #      $url/v1/agents/echo/sessions/s1/call
        await gateway.stop()

From the shell: ``coagent gateway --listen 127.0.0.1:8000 [--server nats://...]``.
Needs the ``gateway`` extra (aiohttp); ``import coagent`` never loads it.
"""

from __future__ import annotations

from coagent.gateway.app import DEFAULT_MAX_BODY, Gateway, tls_context
from coagent.gateway.auth import TokenFileError, Tokens

__all__ = ["Gateway", "Tokens", "TokenFileError", "tls_context", "DEFAULT_MAX_BODY"]
