"""An MCP server built with the ``mcp`` SDK's own server API, for the interop tests.

Run as ``python mcp_server.py stdio`` or ``python mcp_server.py http PORT``. Its tools:
``add`` and ``shout`` (the two plain ones), ``header`` and ``pid`` (what a test checks), ``fail`` (raises), ``slow`` (sleeps, and writes
``started``/``cancelled`` to the file named by ``$MCP_TEST_MARKS`` so a test can see the
cancellation arrive), ``grow`` (adds the tool ``extra`` and says the tool list changed).
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("coagent-test-tools")


def _mark(text: str) -> None:
    path = os.environ.get("MCP_TEST_MARKS")
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """The text in capitals."""
    return text.upper()


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(f"refused: {reason}")


@server.tool()
def header(key: str, ctx: Context) -> str:
    """A header of the HTTP request that carried this call (empty over stdio)."""
    return (ctx.headers or {}).get(key.lower(), "")


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep for a while."""
    _mark("started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _mark("cancelled")
        raise
    return "slept"


def extra() -> str:
    """A tool that appears after ``grow``."""
    return "extra here"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool ``extra``."""
    server.add_tool(extra)
    await ctx.notify_tools_changed()
    await ctx.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
