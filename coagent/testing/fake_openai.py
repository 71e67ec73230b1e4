"""``FakeOpenAIServer``: a real HTTP server speaking the OpenAI chat-completions protocol.

End-to-end tests and offline examples drive the real litellm HTTP path against it::

    from coagent.testing import FakeOpenAIServer, Reply, ErrorReply, tool_call

    async with FakeOpenAIServer(["Hello!", ErrorReply(429, "slow down")]) as server:
        client = ModelClient(model="openai/gpt-4o-mini", api_base=server.base_url,
                             api_key="sk-fake", num_retries=0)     # or: server.client()
        ...
        assert server.requests[0].messages[-1]["content"] == "hi"

    with FakeOpenAIServer(["Hello!"]) as server:     # from sync code: serves from a thread
        subprocess.run([...], env={**os.environ, **server.env()})

It answers ``POST /v1/chat/completions`` (JSON, or SSE with ``"stream": true``,
including tool-call deltas and the usage chunk of ``stream_options.include_usage``)
and ``GET /v1/models``, from the same scripts as :class:`ScriptedModel`. Errors are
answered with their HTTP status and an OpenAI error body (``Retry-After`` when set).

``disconnects`` lists the requests whose client went away before the answer was
complete (a cancelled call, a closed stream), so tests can check cancellation
reached the provider. Each server listens on its own free port on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import threading
import time
from collections.abc import Iterable
from typing import Any

from coagent.testing.openai_bodies import (
    completion_body,
    error_body,
    error_reply_for,
    stream_chunks,
)
from coagent.testing.script import (
    ErrorReply,
    ModelRequest,
    Reply,
    Script,
    ScriptExhausted,
    Step,
    resolve,
)

__all__ = ["FakeOpenAIServer"]

_MAX_HEAD = 64 * 1024


class _Disconnected(Exception):
    pass


class FakeOpenAIServer:
    """An OpenAI-compatible HTTP server answering from a script.

    Args:
        steps: the answers, in order (see :mod:`coagent.testing.script`).
        default: the step for requests past the script (``None``: HTTP 500 saying so).
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
        model: the model listed by ``GET /v1/models`` and used by :meth:`env`/:meth:`client`.
        host, port: where to listen (port 0: a free one).
    """

    def __init__(self, steps: Iterable[Step] = (), *, default: Step | None = None,
                 api_key: str | None = None, model: str = "gpt-4o-mini",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = Script(steps, default=default, owner="FakeOpenAIServer")
        self.api_key = api_key
        self.model = model
        self.host = host
        self.port = port
        #: Requests whose client disconnected before the answer was complete.
        self.disconnects: list[ModelRequest] = []
        #: Script failures (e.g. a request with no step left), as text.
        self.errors: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)

    # ------------------------------------------------------------ scripting

    @property
    def requests(self) -> list[ModelRequest]:
        """Every chat-completions request received, in order."""
        return self.script.requests

    def add(self, *steps: Step) -> None:
        """Append steps to the script."""
        self.script.add(*steps)

    def assert_all_used(self) -> None:
        """Fail if some scripted steps were never requested."""
        self.script.assert_all_used()

    # ------------------------------------------------------------- address

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if not self.port:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL: ``http://127.0.0.1:PORT/v1`` (litellm's ``api_base``)."""
        return f"{self.url}/v1"

    def env(self, model: str | None = None, api_key: str | None = None) -> dict[str, str]:
        """``MODEL_*`` variables pointing a ``ModelClient()`` at this server."""
        return {
            "MODEL_NAME": model or f"openai/{self.model}",
            "MODEL_API_BASE": self.base_url,
            "MODEL_API_KEY": api_key or self.api_key or "sk-fake",
        }

    def client(self, **kwargs: Any) -> Any:
        """A ``ModelClient`` for this server (``num_retries=0`` unless given)."""
        from coagent.agents.model import ModelClient

        kwargs.setdefault("model", f"openai/{self.model}")
        kwargs.setdefault("api_key", self.api_key or "sk-fake")
        kwargs.setdefault("num_retries", 0)
        return ModelClient(api_base=self.base_url, **kwargs)

    async def wait_for_disconnects(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``count`` clients have disconnected mid-answer; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while len(self.disconnects) < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # ----------------------------------------------------------- lifecycle

    async def start(self) -> FakeOpenAIServer:
        """Listen in the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._connection, self.host, self.port,
                                                  limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start_in_thread(self) -> FakeOpenAIServer:
        """Serve from a background thread with its own event loop (for sync code)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="FakeOpenAIServer", daemon=True)
        self._thread.start()
        started.wait()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
        return self

    def close(self) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        thread, self._thread = self._thread, None
        loop = self._loop
        if thread is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start_in_thread()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- HTTP

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._send_json(writer, 431, {"error": {"message": "headers too large"}},
                                          close=True)
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    await self._send_json(writer, 400, error_body("bad request line", "invalid_request_error"),
                                          close=True)
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await self._read_body(reader, headers)
                keep_alive = version.upper() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                try:
                    keep_alive = await self._route(method.upper(), target, headers, body, reader, writer) \
                        and keep_alive
                except _Disconnected:
                    return
                except (ConnectionError, RuntimeError):
                    return
                if not keep_alive:
                    return
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return b"".join(parts)
        length = int(headers.get("content-length", "0") or 0)
        return await reader.readexactly(length) if length else b""

    async def _route(self, method: str, target: str, headers: dict[str, str], body: bytes,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        path = target.split("?", 1)[0].rstrip("/")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            await self._send_json(writer, 401, error_body(
                "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
            return True
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            return await self._chat(headers, body, reader, writer)
        if method == "GET" and path in ("/v1/models", "/models"):
            await self._send_json(writer, 200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "coagent-testing"},
            ]})
            return True
        await self._send_json(writer, 404, error_body(f"no route {method} {path}",
                                                        "invalid_request_error"))
        return True

    async def _chat(self, headers: dict[str, str], body: bytes, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> bool:
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
                raise ValueError("'messages' must be a list")
        except ValueError as exc:
            await self._send_json(writer, 400, error_body(f"invalid JSON body: {exc}",
                                                            "invalid_request_error"))
            return True
        params = {k: v for k, v in data.items() if k not in ("messages", "tools", "model", "stream")}
        request = ModelRequest(messages=data["messages"], tools=data.get("tools"),
                               model=str(data.get("model", "")), stream=bool(data.get("stream")),
                               params=params, headers=headers)
        try:
            _, step = self.script.take(request)
            answer = await resolve(step, request)
        except ScriptExhausted as exc:
            self.errors.append(str(exc))
            await self._send_json(writer, 500, error_body(str(exc), "server_error"))
            return True
        except Exception as exc:  # a responder failed: say so, as a provider would
            self.errors.append(f"{type(exc).__name__}: {exc}")
            await self._send_json(writer, 500, error_body(f"responder failed: {exc}", "server_error"))
            return True
        if isinstance(answer, BaseException):
            answer = error_reply_for(answer)
        if isinstance(answer, ErrorReply):
            if answer.delay:
                await self._pause(reader, answer.delay, request)
            extra = {}
            if answer.retry_after is not None:
                extra["retry-after"] = f"{answer.retry_after:g}"
            await self._send_json(writer, answer.status,
                                  error_body(answer.message, answer.error_type(), answer.code),
                                  extra)
            return True
        if answer.delay:
            await self._pause(reader, answer.delay, request)
        if request.stream:
            await self._stream(answer, request, reader, writer)
        else:
            await self._send_json(writer, 200, completion_body(answer, request,
                                                               f"chatcmpl-fake-{next(self._ids)}"))
        return True

    async def _pause(self, reader: asyncio.StreamReader, seconds: float, request: ModelRequest) -> None:
        """Sleep, noticing a client that closes the connection meanwhile."""
        eof = asyncio.ensure_future(reader.read(1))
        try:
            done, _ = await asyncio.wait([eof], timeout=seconds)
        finally:
            if not eof.done():
                eof.cancel()
                with contextlib.suppress(BaseException):
                    await eof
        if done:
            self.disconnects.append(request)
            raise _Disconnected

    async def _stream(self, reply: Reply, request: ModelRequest, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/event-stream; charset=utf-8\r\n"
            "Cache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n"
        )
        writer.write(head.encode())
        cid = f"chatcmpl-fake-{next(self._ids)}"

        async def send(data: bytes, pause: float = 0.0) -> None:
            if pause:
                await self._pause(reader, pause, request)
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, RuntimeError):
                self.disconnects.append(request)
                raise _Disconnected from None

        for chunk, pause in stream_chunks(reply, request, cid):
            data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            await send(b"%x\r\n%s\r\n" % (len(data), data), pause)
        done = b"data: [DONE]\n\n"
        await send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, payload: Any,
                         extra_headers: dict[str, str] | None = None, close: bool = False) -> None:
        body = json.dumps(payload).encode()
        phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {status} {phrase}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}"]
        for k, v in (extra_headers or {}).items():
            lines.append(f"{k}: {v}")
        if close:
            lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
