"""MCP servers as tool sources of LLM agents (the ``mcp`` SDK's client underneath).

::

    from coagent.agents import ChatAgent
    from coagent.core import AgentSpec, new
    from coagent.interop import MCPTools

    files = MCPTools.stdio("npx", "-y", "@modelcontextprotocol/server-filesystem", "/data")
    search = MCPTools.http("https://tools.example.com/mcp",
                           headers={"Authorization": "Bearer ..."}, prefix="web")

    assistant = AgentSpec("assistant", new(
        ChatAgent, system="...", client=client, tools=[get_weather, files, search],
    ))

One :class:`MCPTools` is one connection, shared by every session of every agent given it
(MCP requests are multiplexed on it). It connects on first use, in the event loop that
uses it; the tool list is fetched once per connection and fetched again after the server
says it changed (``notifications/tools/list_changed``, or the ``subscriptions/listen``
event of 2026-07-28 servers). Tools are offered under their MCP names (``prefix_`` in
front when a prefix is given; characters a model API refuses become ``_``).

A tool's failure goes back to the model like any tool error: an ``isError`` result, bad
arguments (checked against the tool's input schema before the call), the deadline. A
cancelled turn cancels the call in flight, and the SDK tells the server
(``notifications/cancelled``). A server that cannot be started or reached, or that dies,
raises :class:`~coagent.interop.errors.MCPServerUnavailable`; the next use reconnects.
Call :meth:`MCPTools.aclose` (or use ``async with``) to end the connection, which stops a
stdio server's process.

A little over 400 lines: the connection's life (connect, list, refresh, reconnect,
cancel) is one state machine; shared helpers already live in ``interop/_common.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from coagent.actors.context import Context
from coagent.agents.confirm import RunContext
from coagent.agents.tools import Tool, ToolSource
from coagent.interop._common import HTTPTransport, describe, render_tool_result, version
from coagent.interop.errors import InteropNotInstalled, MCPServerUnavailable, MCPToolError

if TYPE_CHECKING:
    from mcp import Client

__all__ = ["MCPTools", "MCPTool"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _sdk() -> Any:
    try:
        import mcp
    except ImportError:  # pragma: no cover - the dev extra installs it
        raise InteropNotInstalled(
            "MCP tools need the mcp SDK: pip install 'coagent[mcp]'"
        ) from None
    return mcp


class MCPTool(Tool):
    """One tool of an MCP server, as the model sees it (see :class:`MCPTools`)."""

    __slots__ = ("_validator", "remote_name", "source")

    def __init__(self, source: MCPTools, remote_name: str, name: str, description: str,
                 schema: Mapping[str, Any]) -> None:
        import jsonschema

        self.source = source
        self.remote_name = remote_name
        self.name = name
        self.description = description
        self.parameters = dict(schema) or {"type": "object", "properties": {}}
        self.parameters.setdefault("type", "object")
        self.fn = self.call
        self._is_async = True
        self._context_params = ()
        cls = jsonschema.validators.validator_for(self.parameters)
        try:
            cls.check_schema(self.parameters)
            self._validator: Any = cls(self.parameters)
        except jsonschema.SchemaError:
            self._validator = None  # the server validates; a schema we cannot read is its business

    async def call(self, arguments: str | Mapping[str, Any], ctx: Context | None = None,
                   run_context: RunContext | None = None) -> Any:
        """Validate ``arguments`` against the tool's input schema and call it on the server.

        ``run_context`` is accepted for the agents' tool loop and unused: a remote tool
        cannot ask the user to confirm through it.
        """
        args = msgspec.json.decode(arguments or "{}") if isinstance(arguments, str) else dict(arguments)
        if not isinstance(args, dict):
            raise msgspec.ValidationError("the arguments must be a JSON object")
        if self._validator is not None:
            problem = next(iter(self._validator.iter_errors(args)), None)
            if problem is not None:
                where = "/".join(str(p) for p in problem.absolute_path)
                raise msgspec.ValidationError(f"{problem.message}" + (f" - at `$.{where}`" if where else ""))
        return await self.source.call(self.remote_name, args, ctx)

    def __repr__(self) -> str:
        return f"MCPTool({self.name!r} of {self.source!r})"


class _Connection:
    """One live session with the server, owned by one task (the SDK's contexts need that)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.client: Client | None = None
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closing = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.tools: list[MCPTool] | None = None
        self.stale = False

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done() and not self.closing.is_set()


class MCPTools(ToolSource):
    """The tools of one MCP server: a command line (stdio) or a URL (Streamable HTTP).

    Args:
        command: the server's command line (a list, or one string split like a shell).
        url: a Streamable HTTP endpoint, instead of ``command``.
        headers: HTTP headers for every request to ``url`` (authentication, ...).
        env: extra environment variables for the command (the SDK passes a minimal
            environment, without your secrets, plus these).
        cwd: the command's working directory.
        prefix: put ``prefix_`` in front of every tool name (to keep two servers apart).
        include: offer only these tools (MCP names); ``None`` offers all.
        connect_timeout: seconds to start and initialize the server.
        call_timeout: the most seconds one call may take (the turn's deadline applies too).
        name: what errors and ``repr`` call the server (default: the command or URL).
        mode: how the protocol version is chosen, as the SDK's ``Client(mode=...)``:
            ``"auto"`` (probe, fall back to the initialize handshake), ``"legacy"`` (the
            handshake of 2025 servers only) or a version string to adopt directly.
    """

    def __init__(
        self,
        command: Sequence[str] | str | None = None,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        prefix: str = "",
        include: Collection[str] | None = None,
        connect_timeout: float = 30.0,
        call_timeout: float | None = None,
        name: str | None = None,
        mode: str = "auto",
    ) -> None:
        if (command is None) == (url is None):
            raise ValueError("give either a command (stdio) or a url (Streamable HTTP)")
        argv = shlex.split(command) if isinstance(command, str) else list(command or ())
        if command is not None and not argv:
            raise ValueError("the command is empty")
        if url is not None and not re.match(r"https?://", url):
            raise ValueError(f"an MCP url must be http:// or https://, got {url!r}")
        if prefix and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", prefix):
            raise ValueError(f"prefix {prefix!r} must match [A-Za-z0-9_-]{{1,32}}")
        if connect_timeout <= 0 or (call_timeout is not None and call_timeout <= 0):
            raise ValueError("timeouts must be positive")
        self.argv = argv
        self.url = url
        self.headers = dict(headers or {})
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.prefix = prefix
        self.include = frozenset(include) if include is not None else None
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.name = name or (url if url is not None else shlex.join(argv))
        self.mode = mode
        self._conn: _Connection | None = None
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    @classmethod
    def stdio(cls, *command: str, **options: Any) -> MCPTools:
        """A server started as ``command`` and spoken to over its stdin/stdout."""
        return cls(list(command), **options)

    @classmethod
    def http(cls, url: str, *, headers: Mapping[str, str] | None = None, **options: Any) -> MCPTools:
        """A Streamable HTTP server at ``url``."""
        return cls(url=url, headers=headers, **options)

    def __repr__(self) -> str:
        return f"MCPTools({self.name!r})"

    async def __aenter__(self) -> MCPTools:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ tool source

    async def list_tools(self, ctx: Context | None = None) -> Sequence[Tool]:
        """The server's tools (fetched once per connection, again after a change)."""
        conn = await self._connection()
        if conn.tools is None or conn.stale:
            conn.stale = False  # a change announced while we fetch marks it stale again
            try:
                conn.tools = await self._fetch(conn, _timeout(ctx, self.connect_timeout))
            except BaseException:
                conn.stale = True
                raise
        return conn.tools

    async def call(self, tool: str, arguments: dict[str, Any], ctx: Context | None = None) -> str:
        """Call ``tool`` (its MCP name) and return its result as text for the model.

        Raises :class:`MCPToolError` for an error result, ``TimeoutError`` past the deadline
        and :class:`MCPServerUnavailable` when the connection fails.
        """
        conn = await self._connection()
        timeout = _timeout(ctx, self.call_timeout)
        mcp = _sdk()
        assert conn.client is not None
        try:
            result = await conn.client.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except mcp.MCPError as exc:
            self._check_connection(conn, exc)
            raise MCPToolError(f"{tool}: {exc.error.message}", server=self.name) from None
        except Exception as exc:
            self._check_connection(conn, exc)
            raise
        text = render_tool_result(result)
        if result.is_error:
            raise MCPToolError(text or f"{tool} failed", server=self.name)
        return text

    async def aclose(self) -> None:
        """End the connection (a stdio server's process is stopped); the next use reconnects."""
        conn, self._conn = self._conn, None
        if conn is None or conn.task is None:
            return
        conn.closing.set()
        if conn.loop is asyncio.get_running_loop():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(conn.task), 10)
            if not conn.task.done():
                conn.task.cancel()

    # ------------------------------------------------------------ connection

    async def _connection(self) -> _Connection:
        conn = self._conn
        loop = asyncio.get_running_loop()
        if conn is not None and conn.loop is loop and conn.alive:
            return conn
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {k: v for k, v in self._locks.items() if not k.is_closed()}
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            conn = self._conn
            if conn is not None and conn.loop is loop and conn.alive:
                return conn
            if conn is not None and conn.loop is loop and conn.task is not None:
                conn.closing.set()  # a dead one: let its task unwind
            conn = _Connection(loop)
            conn.task = loop.create_task(self._own(conn), name=f"mcp connection {self.name}")
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await asyncio.shield(conn.ready)
            except TimeoutError:
                conn.closing.set()
                conn.task.cancel()
                raise MCPServerUnavailable(
                    f"the MCP server {self.name} did not initialize within {self.connect_timeout:g}s",
                    server=self.name,
                ) from None
            except BaseException:
                if not conn.ready.done():  # we were cancelled while connecting
                    conn.closing.set()
                    conn.task.cancel()
                raise
            self._conn = conn
            return conn

    async def _own(self, conn: _Connection) -> None:
        """Run one connection until it is closed or dies (its contexts live in this task)."""
        mcp = _sdk()
        import anyio

        async def on_message(message: Any) -> None:
            method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
            if method == "notifications/tools/list_changed":
                conn.stale = True

        try:
            async with mcp.Client(self._target(), message_handler=on_message, cache=None, mode=self.mode,
                                  client_info=mcp.Implementation(name="coagent", version=version())
                                  ) as client:
                conn.client = client
                async with anyio.create_task_group() as group:
                    group.start_soon(self._listen, conn, client)
                    conn.ready.set_result(None)
                    await conn.closing.wait()
                    group.cancel_scope.cancel()
        except BaseException as exc:
            _fail(conn, MCPServerUnavailable(
                f"cannot connect to the MCP server {self.name}: {describe(exc)}", server=self.name,
            ))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            conn.closing.set()
            _fail(conn, MCPServerUnavailable(
                f"the MCP server {self.name} closed the connection", server=self.name,
            ))

    async def _listen(self, conn: _Connection, client: Any) -> None:
        """Mark the tool list stale on each change event (servers of 2026-07-28 and later)."""
        from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost

        try:
            async with client.listen(tools_list_changed=True) as events:
                async for _event in events:
                    conn.stale = True
        except ListenNotSupportedError:
            return  # an older server announces changes as notifications instead
        except SubscriptionLost:
            conn.closing.set()  # the connection dropped: the next use reconnects
        except Exception:
            return  # a server that refuses the subscription still serves its tools

    def _target(self) -> Any:
        mcp = _sdk()
        if self.url is not None:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            return HTTPTransport(streamable_http_client, create_mcp_http_client, self.url,
                                  self.headers)
        return mcp.StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env,
                                         cwd=self.cwd)

    def _check_connection(self, conn: _Connection, exc: BaseException) -> None:
        """Raise ``MCPServerUnavailable`` (and drop the connection) when ``exc`` means it died."""
        import anyio

        code = getattr(getattr(exc, "error", None), "code", None)
        closed = code == _CONNECTION_CLOSED or isinstance(
            exc, (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream,
                  ConnectionError))
        if closed or not conn.alive:
            conn.closing.set()
            raise MCPServerUnavailable(
                f"the connection to the MCP server {self.name} failed: {describe(exc)}",
                server=self.name,
            ) from None

    async def _fetch(self, conn: _Connection, timeout: float | None) -> list[MCPTool]:
        mcp = _sdk()
        assert conn.client is not None
        tools: list[MCPTool] = []
        seen: dict[str, str] = {}
        cursor: str | None = None
        try:
            async with asyncio.timeout(timeout):
                for _ in range(1000):  # a server whose cursor never ends cannot hang a turn
                    page = await conn.client.list_tools(cursor=cursor)
                    for t in page.tools:
                        if self.include is not None and t.name not in self.include:
                            continue
                        name = _UNSAFE.sub("_", f"{self.prefix}_{t.name}" if self.prefix else t.name)[:64]
                        if name in seen:
                            raise MCPToolError(
                                f"the tools {seen[name]!r} and {t.name!r} of {self.name} are both "
                                f"offered as {name!r}", server=self.name)
                        seen[name] = t.name
                        tools.append(MCPTool(self, t.name, name, t.description or t.title or "",
                                             t.input_schema))
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except TimeoutError:
            raise MCPServerUnavailable(
                f"the MCP server {self.name} did not list its tools within {timeout:g}s",
                server=self.name) from None
        except mcp.MCPError as exc:
            self._check_connection(conn, exc)
            raise MCPServerUnavailable(f"{self.name} refused to list its tools: {exc.error.message}",
                                       server=self.name) from None
        except MCPToolError:
            raise
        except Exception as exc:
            self._check_connection(conn, exc)
            raise
        return tools


_CONNECTION_CLOSED = -32000  # mcp_types.CONNECTION_CLOSED, without importing the SDK here


def _fail(conn: _Connection, exc: MCPServerUnavailable) -> None:
    if not conn.ready.done():
        conn.ready.set_exception(exc)
        conn.ready.exception()  # retrieved: a connector that gave up waiting logs nothing


def _timeout(ctx: Context | None, limit: float | None) -> float | None:
    remaining = ctx.remaining() if ctx is not None else None
    if remaining is None:
        return limit
    return remaining if limit is None else min(remaining, limit)
