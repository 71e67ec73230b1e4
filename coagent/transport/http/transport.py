"""``HTTPTransport``: a node that reaches the rest of the system through a gateway.

::

    runtime = Node(transport=HTTPTransport("http://gw:8000", auth="T"))   # what HTTPRuntime is
    await runtime.register(AgentSpec("echo", new(Echo)))   # POST /v1/serve: the gateway serves it
    await runtime.ask(Address("billing", "s1"), Ping())    # POST /v1/agents/billing/.../call

The third implementation of :class:`~coagent.transport.base.Transport`, beside the
in-process router and NATS. Agents registered here run here; the gateway registers
each type on its own node as a relay, so they are reachable from every HTTP client,
from the gateway's process and (when the gateway is a NATS node) from the whole
cluster. Everything not served here is placed "behind the gateway". The wire is
``docs/wire.md``, "HTTP".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from coagent.actors.address import Address
from coagent.errors import RuntimeNotStarted, TransportError
from coagent.transport.base import InboundNode, Route, StreamDecoder
from coagent.transport.http.caller import Caller
from coagent.transport.http.codec import decode_error_body
from coagent.transport.http.serving import Serving

if TYPE_CHECKING:
    from coagent.actors.message import RawMessage
    from coagent.supervision.spec import AgentSpec

__all__ = ["HTTPTransport"]

_GATEWAY = Route("gateway")


class HTTPTransport:
    """The :class:`~coagent.transport.base.Transport` of a node behind an HTTP gateway.

    Args:
        base_url: the gateway (``http://host:8000`` or ``https://...``).
        auth: a bearer token the gateway accepts (``""``: none).
        connect_deadline: seconds the gateway may take to answer at start, and to
            register a type (then ``TransportError``).
        backoff: first and longest pause between reconnects of a delivery stream.
        read_timeout: seconds of silence (no event, no heartbeat) after which a stream
            is taken for dead and opened again.
        ssl: an ``ssl.SSLContext`` for ``https`` gateways with a private CA (or ``False``).
        max_connections: connections kept open to the gateway for calls.
    """

    def __init__(self, base_url: str, *, auth: str = "", connect_deadline: float = 5.0,
                 backoff: tuple[float, float] = (0.1, 5.0), read_timeout: float = 45.0,
                 ssl: Any = None, max_connections: int = 256) -> None:
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        self.connect_deadline = connect_deadline
        self.backoff = backoff
        self.read_timeout = read_timeout
        self.ssl = ssl
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._caller: Caller | None = None
        self._serving: Serving | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self, node: InboundNode) -> None:
        self.node = node
        connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=self.ssl)
        session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        try:
            await self._check(session)
        except BaseException:
            await session.close()
            raise
        self._session = session
        self._caller = Caller(session, self.base, self.headers)
        self._serving = Serving(session, self.base, self.headers, node, self.backoff, self.read_timeout)

    async def _check(self, session: aiohttp.ClientSession) -> None:
        """The gateway answers (with this token) before the node counts as started."""
        try:
            async with asyncio.timeout(self.connect_deadline):
                async with session.get(f"{self.base}/v1/agents", headers=self.headers) as resp:
                    if resp.status != 200:
                        raise decode_error_body(resp.status, await resp.read())
        except TimeoutError:
            raise TransportError(f"the gateway at {self.base} did not answer within "
                                 f"{self.connect_deadline:g}s") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"cannot reach the gateway at {self.base}: {exc}") from None

    async def stop_intake(self) -> None:
        if self._serving is not None:
            await self._serving.withdraw(list(self._serving.streams))

    async def stop(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            await serving.stop()
        session, self._session = self._session, None
        self._caller = None
        if session is not None:
            await session.close()

    @property
    def serving(self) -> Serving:
        if self._serving is None:
            raise RuntimeNotStarted("the HTTP runtime is not started")
        return self._serving

    @property
    def caller(self) -> Caller:
        if self._caller is None:
            raise RuntimeNotStarted("the HTTP runtime is not started")
        return self._caller

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeNotStarted("the HTTP runtime is not started")
        return self._session

    # ------------------------------------------------------------ serving

    async def serve(self, spec: AgentSpec) -> None:
        loop = asyncio.get_running_loop()
        await self.serving.serve(spec, loop.time() + self.connect_deadline)

    async def withdraw(self, names: Sequence[str]) -> None:
        if self._serving is not None:
            await self._serving.withdraw(names)

    def session_ended(self, type_name: str, session: str) -> None:
        return None  # the gateway's relay session passivates on its own idle timeout

    # ------------------------------------------------------------ calls

    async def place(self, address: Address, deadline: float) -> Route | None:
        return None if self.node.type_of(address.name) is not None else _GATEWAY

    def ask(self, route: Route, address: Address, raw: RawMessage, deadline: float,
            sender: Address | None, explicit: bool) -> Any:
        return self.caller.ask(address, raw, deadline)

    def tell(self, route: Route, address: Address, raw: RawMessage, deadline: float,
             sender: Address | None, explicit: bool) -> Any:
        return self.caller.tell(address, raw, deadline)

    def open_stream(self, route: Route, address: Address, raw: RawMessage, deadline: float,
                    sender: Address | None, explicit: bool,
                    decode: StreamDecoder | None) -> Any:
        return self.caller.open_stream(address, raw, deadline, decode)

    def calls_in_flight(self) -> int:
        """Calls sent through the gateway and not answered yet, plus deliveries being served
        here (the ``coagent.transport.calls_in_flight`` gauge)."""
        caller, serving = self._caller, self._serving
        return (caller.in_flight if caller is not None else 0) + (
            len(serving.calls) if serving is not None else 0)

    async def discover(self, namespace: str) -> list[tuple[str, str]]:
        return [(a["name"], a.get("description", "")) for a in await self.get_json("/v1/agents", "agents")]

    async def get_json(self, path: str, key: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """``GET path`` on the gateway and the list under ``key`` of its JSON answer."""
        try:
            async with asyncio.timeout(timeout):
                async with self.session.get(f"{self.base}{path}", headers=self.headers) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise decode_error_body(resp.status, body)
        except TimeoutError:
            raise TransportError(f"the gateway at {self.base} did not answer {path} in {timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"the gateway at {self.base} failed: {exc}") from None
        value = json.loads(body).get(key, [])
        return value if isinstance(value, list) else []
