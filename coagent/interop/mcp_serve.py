"""Agent types as MCP tools: what ``coagent mcp serve`` runs (the ``mcp`` SDK's server).

::

    async with NATSRuntime.from_servers("nats://localhost:4222") as runtime:
        server = agents_server(runtime, namespace="team")
        await serve_stdio(server)                      # or: await serve_http(server, "127.0.0.1", 8100)

One tool per agent type under ``namespace`` (found at each ``tools/list``, so agent types
that appear in the cluster are offered at once), named by the agent's name relative to the
namespace, described by the agent's description. A call takes ``message`` (the user's
text) and optionally ``session`` (to continue a conversation): the agent gets a
``ChatMessage`` in that session (a fresh one when none is given) and the tool's result is
the agent's reply, streamed replies joined, with ``{"reply", "session"}`` as structured
content. An agent's typed error comes back as an ``isError`` result with its code; a
cancelled MCP request cancels the agent's handler.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from coagent.actors.address import Address, new_session_id
from coagent.agents.messages import ChatMessage
from coagent.errors import CoagentError, InvalidAddress
from coagent.interop._common import reply_text, version

__all__ = ["agents_server", "serve_stdio", "serve_http", "tool_name", "INPUT_SCHEMA"]

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "What to tell the agent."},
        "session": {
            "type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$",
            "description": "Continue a conversation: the session of an earlier result. "
                           "Leave it out to start a new one.",
        },
    },
    "required": ["message"],
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reply": {"type": "string"}, "session": {"type": "string"}},
    "required": ["reply", "session"],
}


def tool_name(agent: str, namespace: str = "") -> str:
    """The tool of ``agent``: its name relative to ``namespace`` (``team.billing`` -> ``billing``)."""
    if namespace and agent.startswith(namespace + "."):
        return agent[len(namespace) + 1:]
    return agent


def agents_server(runtime: Any, *, namespace: str = "", timeout: float = 300.0,
                  name: str = "coagent") -> Any:
    """An MCP server (``mcp.server.Server``) whose tools are the agent types of ``runtime``."""
    import mcp.types as types
    from mcp.server import Server

    async def agents() -> dict[str, tuple[str, str]]:
        found = await runtime.discover(namespace)
        return {tool_name(agent, namespace): (agent, description) for agent, description in found}

    async def list_tools(ctx: Any, params: Any) -> Any:
        tools = [
            types.Tool(name=tool, description=description or f"The Coagent agent {agent}.",
                       input_schema=INPUT_SCHEMA, output_schema=OUTPUT_SCHEMA)
            for tool, (agent, description) in sorted((await agents()).items())
        ]
        return types.ListToolsResult(tools=tools)

    def failed(text: str) -> Any:
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)

    async def call_tool(ctx: Any, params: Any) -> Any:
        found = await agents()
        if params.name not in found:
            return failed(f"agent_not_found: no agent for the tool {params.name!r}"
                          f" (tools: {', '.join(sorted(found)) or 'none'})")
        agent = found[params.name][0]
        arguments: Mapping[str, Any] = params.arguments or {}
        message = arguments.get("message")
        session = arguments.get("session") or new_session_id()
        if not isinstance(message, str) or not isinstance(session, str):
            return failed("bad_request: 'message' (and 'session', if given) must be strings")
        try:
            address = Address(agent, session)
        except InvalidAddress as exc:
            return failed(f"{exc.code}: {exc}")
        pieces: list[str] = []
        try:
            async with runtime.stream(address, ChatMessage(role="user", content=message),
                                      timeout=timeout) as replies:
                async for chunk in replies:
                    pieces.append(reply_text(chunk))
        except CoagentError as exc:
            return failed(f"{exc.code}: {exc}")
        reply = "".join(pieces)
        return types.CallToolResult(content=[types.TextContent(type="text", text=reply)],
                                    structured_content={"reply": reply, "session": session})

    return Server(name, version=version(), on_list_tools=list_tools, on_call_tool=call_tool,
                  instructions="Each tool is a Coagent agent; pass `session` to continue a conversation.")


async def serve_stdio(server: Any) -> None:
    """Serve ``server`` over this process's stdin/stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


async def serve_http(server: Any, host: str, port: int, *, path: str = "/mcp",
                     check: Callable[[str | None], object] | None = None,
                     started: Callable[[str], Awaitable[None] | None] | None = None) -> None:
    """Serve ``server`` over Streamable HTTP at ``http://host:port{path}`` (uvicorn, from the SDK).

    ``check`` gets each request's ``Authorization`` header and raises to refuse it
    (``Tokens.check``); ``started`` gets the URL once the port is bound.
    """
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=path, host=host)
    asgi = _bearer(app, check) if check is not None else app
    config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="on")
    # uvicorn catches SIGINT/SIGTERM while it serves and shuts down gracefully on them; it
    # raises the signal again afterwards, so a caller should have a handler installed.
    web = uvicorn.Server(config)
    if started is None:
        await web.serve()
        return
    import asyncio

    task = asyncio.create_task(web.serve())
    try:
        while not web.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.02)
        sockets = [s for srv in web.servers for s in srv.sockets]
        bound = sockets[0].getsockname()[1] if sockets else port
        shown = f"[{host}]" if ":" in host else host
        result = started(f"http://{shown}:{bound}{path}")
        if result is not None:
            await result
        await asyncio.shield(task)  # a cancelled caller shuts uvicorn down below, gracefully
    finally:
        web.should_exit = True
        if not task.done():
            await asyncio.wait_for(task, 10)


def _bearer(app: Any, check: Callable[[str | None], object]) -> Any:
    """``app`` behind a bearer-token check (a 401 JSON body, like the gateway's, otherwise)."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                           if k.lower() == b"authorization"), None)
            try:
                check(header)
            except CoagentError as exc:
                body = json.dumps({"code": exc.code, "message": str(exc)}).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded
