"""MCP and A2A: Coagent agents meet other tools and agent systems.

::

    from coagent.interop import A2AAgent, MCPTools

    tools = MCPTools.stdio("python", "my_mcp_server.py")          # an MCP server's tools
    assistant = AgentSpec("assistant", new(ChatAgent, client=client, tools=[tools]))
    remote = AgentSpec("reviewer", new(A2AAgent, "https://agents.example.com/a2a/reviewer"))

The SDKs (``mcp``, ``a2a-sdk``) are optional extras, imported only when these are used:
``pip install 'coagent[mcp]'``, ``'coagent[a2a]'``, or both: ``'coagent[interop]'``. The MCP server side is
``coagent mcp serve``; the A2A server side is part of ``coagent gateway``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coagent.interop.errors import (
    A2AError,
    InteropError,
    InteropNotInstalled,
    MCPError,
    MCPServerUnavailable,
    MCPToolError,
    RemoteAgentError,
    RemoteAgentUnavailable,
)

if TYPE_CHECKING:
    from coagent.interop.a2a_agent import A2AAgent
    from coagent.interop.mcp_tools import MCPTool, MCPTools

__all__ = [
    "MCPTools",
    "MCPTool",
    "A2AAgent",
    "InteropError",
    "InteropNotInstalled",
    "MCPError",
    "MCPServerUnavailable",
    "MCPToolError",
    "A2AError",
    "RemoteAgentError",
    "RemoteAgentUnavailable",
]

_LAZY = {"MCPTools": "mcp_tools", "MCPTool": "mcp_tools", "A2AAgent": "a2a_agent"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'coagent.interop' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"coagent.interop.{module}"), name)
