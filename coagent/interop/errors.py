"""Errors of MCP tools and A2A agents, part of the one :class:`~coagent.errors.CoagentError` tree.

::

    from coagent.interop.errors import MCPServerUnavailable, RemoteAgentError

    try:
        reply = await runtime.ask(Address("assistant", "s1"), ChatMessage(role="user", content="hi"))
    except MCPServerUnavailable as exc:
        print("the tool server is down:", exc.server)
    except RemoteAgentError as exc:
        print("the remote A2A agent failed:", exc.url, exc)

This module imports no SDK, so a process that only receives these errors (over NATS or the
gateway) still decodes them into their own types.
"""

from __future__ import annotations

from typing import Any

from coagent.errors import CoagentError

__all__ = [
    "InteropError",
    "MCPError",
    "MCPServerUnavailable",
    "MCPToolError",
    "A2AError",
    "RemoteAgentError",
    "RemoteAgentUnavailable",
    "InteropNotInstalled",
]


class InteropError(CoagentError):
    """Base of the MCP and A2A errors."""

    code = "interop_error"


class InteropNotInstalled(InteropError):
    """An optional SDK is missing: ``pip install 'coagent[mcp]'`` or ``'coagent[a2a]'``."""

    code = "interop_not_installed"


class MCPError(InteropError):
    """An MCP server failed; ``server`` names it (its command line or URL)."""

    code = "mcp_error"
    wire_fields = {"server": str}
    server: str = ""

    def __init__(self, message: str = "", *, server: str = "", **details: Any) -> None:
        super().__init__(message, server=server, **details)
        self.server = server


class MCPServerUnavailable(MCPError):
    """The MCP server could not be reached, or its connection died (the next use reconnects)."""

    code = "mcp_unavailable"


class MCPToolError(MCPError):
    """An MCP tool answered with an error (``isError``); its text goes back to the model."""

    code = "mcp_tool_error"


class A2AError(InteropError):
    """A remote A2A agent failed; ``url`` is its endpoint."""

    code = "a2a_error"
    wire_fields = {"url": str}
    url: str = ""

    def __init__(self, message: str = "", *, url: str = "", **details: Any) -> None:
        super().__init__(message, url=url, **details)
        self.url = url


class RemoteAgentUnavailable(A2AError):
    """The remote A2A agent could not be reached or its card could not be read."""

    code = "a2a_unavailable"


class RemoteAgentError(A2AError):
    """The remote A2A agent answered with an error, or its task failed or was rejected."""

    code = "a2a_remote_error"
