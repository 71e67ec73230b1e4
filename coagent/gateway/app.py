"""``Gateway``: a node's public API served over HTTP (aiohttp server).

::

    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("echo", new(Echo)))
        gateway = Gateway(runtime, tokens=Tokens(["s3cret"]))
        url = await gateway.start("127.0.0.1", 8000)     # port 0: a free port
        ...                                            # POST {url}/v1/agents/echo/sessions/s1/call
        await gateway.stop()

The gateway does not own the runtime: start it before and stop it after.
aiohttp serves it (see the README for the measurements behind that choice); only this
module and :mod:`coagent.gateway.routes` know that.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from coagent.actors.address import validate_name
from coagent.errors import CoagentError, MessageTooLarge, StoreRequired
from coagent.gateway.a2a import CARD_PATH, A2ARoutes
from coagent.gateway.auth import Tokens
from coagent.gateway.calls import Calls, IdempotencyKeys
from coagent.gateway.errors import EndpointNotFound, InternalError, MethodNotAllowed, RequestTimeout
from coagent.gateway.hosted import Hosted
from coagent.gateway.routes import CALLER, Routes, error_response
from coagent.gateway.web import PAGE_PATHS, add_web_page
from coagent.observability.switch import state as _obs

__all__ = ["Gateway", "DEFAULT_MAX_BODY", "tls_context"]

log = logging.getLogger("coagent.gateway")

#: Bytes a request body may have (the default ``max_payload`` of a NATS server).
DEFAULT_MAX_BODY = 1024 * 1024

#: Paths that need no token: a load balancer's health probe has none, nor has a browser
#: opening the web page (which then calls the API with the token its user types in).
PUBLIC_PATHS = frozenset(("/v1/health",)) | PAGE_PATHS

#: Routes that get no span while tracing is on: probes and live views polling every second,
#: the page's files, and the serving side's long-lived streams and answers (a span per
#: answer would be a trace of its own; the served call's trace goes in its delivery).
UNTRACED_ROUTES = frozenset((
    "/v1/health", "/v1/tree", "/openapi.json", "/v1/serve", "/v1/serve/{provider}/answers",
    "/v1/deliveries/{call_id}", "/runtime/register", "/runtime/channel/subscribe",
)) | PAGE_PATHS

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server TLS context from a PEM certificate (chain) and its key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


class Gateway:
    """HTTP access to ``runtime`` (a ``LocalRuntime``, ``NATSRuntime`` or any node).

    Args:
        runtime: a started runtime; the gateway calls only its public API.
        tokens: accepted bearer tokens; ``None`` serves without authentication.
        max_body: bytes a request body may have (413 past it).
        default_timeout: seconds a call may take when ``Coagent-Timeout`` is absent.
        max_timeout: the most a client may ask for (longer deadlines are cut to it).
        idempotency_window: seconds an ``Idempotency-Key`` of a tell is remembered.
        discovery_timeout: seconds ``/v1/agents`` and ``/v1/tree`` wait for nodes to answer.
        body_timeout: seconds a client has to send its request body (408 past it), so a
            client that stalls mid-body does not hold a request open forever.
        sse_heartbeat: seconds of silence after which a stream sends an SSE comment, so
            proxies and clients do not take a slow agent for a dead connection.
        access_log: log one line per request (logger ``coagent.gateway.access``, level INFO);
            off by default (one formatted line of I/O per request).
        reconnect_grace: seconds a CoS session's messages wait for its subscriber to come
            back after a disconnect before the session ends (its calls then fail).
        durable_cos: agent types served over the original's CoS protocol whose tells are
            durable: stored in the gateway's store (the runtime needs one) before they return,
            delivered with a reply topic and acknowledged by the client's reply, sent again to
            the next subscriber until then (at least once; the session's state is the CoS
            process's own, which the protocol cannot store).
    """

    def __init__(
        self,
        runtime: Any,
        *,
        tokens: Tokens | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        default_timeout: float = 60.0,
        max_timeout: float = 300.0,
        idempotency_window: float = 3600.0,
        discovery_timeout: float = 0.5,
        body_timeout: float = 30.0,
        sse_heartbeat: float = 15.0,
        access_log: bool = False,
        reconnect_grace: float = 10.0,
        durable_cos: Iterable[str] = (),
    ) -> None:
        if max_body < 1 or default_timeout <= 0 or max_timeout <= 0:
            raise ValueError("max_body, default_timeout and max_timeout must be positive")
        cos = frozenset(validate_name(n) for n in durable_cos)
        if cos and getattr(runtime, "durable", None) is None:
            raise StoreRequired(f"durable CoS types ({', '.join(sorted(cos))}) need a runtime with a"
                                " store: LocalRuntime(store='state.db'), coagent gateway --store")
        self.runtime = runtime
        self.tokens = tokens
        self.max_body = max_body
        self.default_timeout = min(default_timeout, max_timeout)
        self.max_timeout = max_timeout
        self.discovery_timeout = discovery_timeout
        self.body_timeout = body_timeout
        self.sse_heartbeat = sse_heartbeat
        self.access_log = logging.getLogger("coagent.gateway.access") if access_log else None
        self.calls = Calls()
        self.idempotency = IdempotencyKeys(window=idempotency_window)
        #: Agent types served by outside processes (``/runtime/register``, ``/v1/serve``).
        self.hosted = Hosted(runtime, grace=reconnect_grace, durable_cos=cos)
        # aiohttp enforces the limit itself as it reads, chunked bodies included.
        self.app = web.Application(middlewares=[self._middleware], client_max_size=max_body)
        Routes(self).add_to(self.app)
        A2ARoutes(self).add_to(self.app)
        add_web_page(self.app)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 8000, *,
                    ssl_context: ssl.SSLContext | None = None) -> str:
        """Listen on ``host:port`` (0: a free port); returns the base URL."""
        # A client that disconnects cancels its request's task, and so the agent's handler.
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=self.access_log,
                               handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        _obs.gateways.add(self)  # read by the calls-in-flight gauge
        bound = runner.addresses[0][1] if runner.addresses else port
        scheme = "https" if ssl_context is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{bound}"
        return self.url

    async def stop(self) -> None:
        """Stop listening; requests in flight are cancelled (their handlers too)."""
        runner, self._runner = self._runner, None
        _obs.gateways.discard(self)
        if runner is not None:
            await runner.cleanup()
        await self.hosted.close_all()

    def calls_in_flight(self) -> int:
        """Calls HTTP clients made here and deliveries to serving processes not answered yet."""
        return len(self.calls) + len(self.hosted.calls)

    async def read_body(self, request: web.Request) -> bytes:
        """The request body, refused with ``MessageTooLarge`` past ``max_body`` before it is read."""
        length = request.content_length
        if length is not None and length > self.max_body:
            raise MessageTooLarge(
                f"the request body has {length} bytes; this gateway takes at most {self.max_body}",
                limit=self.max_body,
            )
        try:
            async with asyncio.timeout(self.body_timeout):
                return await request.read()
        except TimeoutError:
            raise RequestTimeout(
                f"the request body did not arrive within {self.body_timeout:g}s",
                timeout=self.body_timeout,
            ) from None
        except web.HTTPRequestEntityTooLarge:
            raise MessageTooLarge(
                f"the request body is larger than {self.max_body} bytes", limit=self.max_body,
            ) from None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if _obs.tracing and request.match_info.route.resource is not None \
                and request.match_info.route.resource.canonical not in UNTRACED_ROUTES:
            # A SERVER span around all of it (errors included), child of the client's traceparent.
            traced: web.StreamResponse = await _obs.hooks.traced_http(request, handler, self._respond)
            return traced
        return await self._respond(request, handler)

    async def _respond(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Authentication, then typed error bodies for whatever the handler raised."""
        try:
            tokens = self.tokens
            # A2A cards are public: a client reads one to learn how to authenticate.
            if tokens is None or request.path in PUBLIC_PATHS or request.path.endswith(CARD_PATH):
                request[CALLER] = ""
            else:
                request[CALLER] = tokens.check(request.headers.get("Authorization"))
            return await handler(request)
        except CoagentError as exc:
            return error_response(exc)
        except web.HTTPNotFound:
            return error_response(EndpointNotFound(f"no endpoint {request.path} (see /openapi.json)"))
        except web.HTTPMethodNotAllowed as exc:
            return error_response(MethodNotAllowed(
                f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}"
            ))
        except web.HTTPException:
            raise
        except (ConnectionResetError, OSError) as exc:
            # The client went away while we wrote to it: nothing to answer.
            log.debug("client of %s went away: %s", request.path, exc)
            raise
        except Exception:
            log.exception("the gateway failed on %s %s", request.method, request.path)
            return error_response(InternalError("the gateway failed; see its log"))
