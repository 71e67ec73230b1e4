"""A2A on the gateway: every registered agent type is an A2A agent (the ``a2a-sdk`` server).

::

    GET  /.well-known/agent-card.json                 the gateway's card: one skill per agent type
    GET  /a2a/{agent}/.well-known/agent-card.json     the card of one agent type
    POST /a2a/{agent}                                 JSON-RPC: SendMessage, SendStreamingMessage,
                                                      GetTask, ListTasks, CancelTask, SubscribeToTask
    POST /a2a                                         the same, the agent type named by the
                                                      message's ``metadata.skill`` (or the only one)

The SDK does the protocol (JSON-RPC, SSE, task store, task life cycle); this module turns a
task into a call of the agent: the message's text parts become a ``ChatMessage``, the A2A
context is the session (so one context is one conversation with one session actor), the
agent's streamed chunks become artifact updates, and its reply completes the task. A
cancelled task cancels the agent's handler. Cards are public (clients read them before they
authenticate); when the gateway has tokens, every card declares the bearer scheme, every
JSON-RPC call needs the token, and each token is its own A2A user: the tasks it made and
the sessions of its contexts are invisible to the others. Starlette is the SDK's web layer: its app is called as ASGI
from the aiohttp handler, so nothing else listens.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from coagent.actors.address import Address
from coagent.agents.messages import ChatMessage
from coagent.errors import AgentNotFound, CoagentError
from coagent.gateway.routes import CALLER
from coagent.interop._common import reply_text, version
from coagent.interop.errors import InteropNotInstalled

if TYPE_CHECKING:
    from coagent.gateway.app import Gateway

__all__ = ["A2ARoutes", "CARD_PATH", "session_for_context"]

CARD_PATH = "/.well-known/agent-card.json"
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,128}")


def session_for_context(context_id: str) -> str:
    """The Coagent session of an A2A context (its id as-is when it is a valid session id)."""
    if _SESSION.fullmatch(context_id):
        return context_id
    return "a2a-" + hashlib.sha256(context_id.encode()).hexdigest()[:40]


def _sdk() -> Any:
    try:
        import a2a.server.request_handlers
        import starlette  # noqa: F401
    except ImportError:  # pragma: no cover - the dev extra installs it
        raise InteropNotInstalled("A2A needs the a2a SDK: pip install 'coagent[a2a]'") from None
    import a2a

    return a2a


class A2ARoutes:
    """The A2A endpoints of one :class:`~coagent.gateway.app.Gateway` (added by ``add_to``)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.runtime = gateway.runtime
        self._apps: dict[str, Any] = {}

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_get(CARD_PATH, self.gateway_card)
        r.add_get("/a2a" + CARD_PATH, self.gateway_card)
        r.add_get("/a2a/{name}" + CARD_PATH, self.agent_card)
        r.add_post("/a2a", self.rpc)
        r.add_post("/a2a/{name}", self.rpc)

    # ------------------------------------------------------------- cards

    async def _agents(self) -> list[tuple[str, str]]:
        return sorted(await self.runtime.discover(""))

    async def _description(self, name: str) -> str:
        for agent, description in await self._agents():
            if agent == name:
                return description
        raise AgentNotFound(f"no agent type {name!r} is registered")

    def _base(self, request: web.Request) -> str:
        return self.gw.url or f"{request.scheme}://{request.host}"

    def _card(self, request: web.Request, name: str | None, description: str,
              skills: list[tuple[str, str]]) -> Any:
        _sdk()
        from a2a.types import a2a_pb2 as pb

        base = self._base(request)
        card = pb.AgentCard(
            name=name or "coagent gateway",
            description=description,
            version=version(),
            supported_interfaces=[pb.AgentInterface(
                url=f"{base}/a2a/{name}" if name else f"{base}/a2a",
                protocol_binding="JSONRPC", protocol_version="1.0",
            )],
            capabilities=pb.AgentCapabilities(streaming=True, push_notifications=False),
            default_input_modes=["text/plain"],
            default_output_modes=["text/plain"],
            skills=[pb.AgentSkill(id=skill, name=skill, description=text or skill, tags=["coagent"])
                    for skill, text in skills],
        )
        if self.gw.tokens is not None:
            card.security_schemes["bearer"].CopyFrom(pb.SecurityScheme(
                http_auth_security_scheme=pb.HTTPAuthSecurityScheme(
                    scheme="bearer", description="a token of the gateway's --auth/--auth-file"),
            ))
            requirement = card.security_requirements.add()
            requirement.schemes["bearer"].SetInParent()
        return card

    @staticmethod
    def _card_response(card: Any) -> web.Response:
        from google.protobuf.json_format import MessageToJson

        return web.Response(body=MessageToJson(card).encode(), content_type="application/json")

    async def gateway_card(self, request: web.Request) -> web.StreamResponse:
        """The gateway as one A2A agent: each agent type is a skill (``metadata.skill`` picks it)."""
        agents = await self._agents()
        text = "Coagent agents: " + ", ".join(name for name, _ in agents) if agents else "Coagent"
        return self._card_response(self._card(request, None, text, agents))

    async def agent_card(self, request: web.Request) -> web.StreamResponse:
        """The card of one agent type."""
        name = request.match_info["name"]
        description = await self._description(name)
        return self._card_response(
            self._card(request, name, description or name, [(name, description)]))

    # ------------------------------------------------------------- JSON-RPC

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        """One JSON-RPC call, served by the SDK's dispatcher through ASGI."""
        name = request.match_info.get("name")
        if name is not None:
            await self._description(name)  # an unknown agent type is a 404, as on /v1
        app = self._apps.get(name or "")
        if app is None:
            app = self._apps[name or ""] = self._build_app(request, name)
        body = await self.gw.read_body(request)
        # With tokens, each caller is its own A2A user (the token file's user name, else a
        # digest of the token): its tasks and contexts are its own.
        user = request[CALLER] if self.gw.tokens is not None else None
        return await _call_asgi(app, request, body, user)

    def _build_app(self, request: web.Request, name: str | None) -> Any:
        _sdk()
        from a2a.server.request_handlers import DefaultRequestHandler
        from a2a.server.routes import create_jsonrpc_routes
        from a2a.server.tasks import InMemoryTaskStore
        from starlette.applications import Starlette

        card = self._card(request, name, name or "coagent gateway", [(name or "coagent", "")])
        handler = DefaultRequestHandler(
            agent_executor=_executor(self, name), task_store=InMemoryTaskStore(), agent_card=card,
        )
        return Starlette(routes=create_jsonrpc_routes(handler, rpc_url="/"))

    async def pick_agent(self, skill: str | None) -> str:
        """The agent type a message to ``/a2a`` is for."""
        agents = [name for name, _ in await self._agents()]
        if skill:
            if skill not in agents:
                raise AgentNotFound(f"no agent type {skill!r} is registered"
                                    f" (skills: {', '.join(agents) or 'none'})")
            return skill
        if len(agents) == 1:
            return agents[0]
        raise AgentNotFound("name the agent type in the message's metadata.skill"
                            f" (skills: {', '.join(agents) or 'none'})")


def _executor(routes: A2ARoutes, name: str | None) -> Any:
    """An ``AgentExecutor`` that runs each task as a call of agent type ``name``."""
    from a2a.helpers import new_task, new_text_message, new_text_part
    from a2a.server.agent_execution import AgentExecutor
    from a2a.server.tasks import TaskUpdater
    from a2a.types.a2a_pb2 import Role, TaskState

    class CoagentExecutor(AgentExecutor):
        async def execute(self, context: Any, event_queue: Any) -> None:
            task_id, context_id = context.task_id, context.context_id
            updater = TaskUpdater(event_queue, task_id, context_id)
            if context.current_task is None:  # the SDK wants the Task before its updates
                history = [context.message] if context.message is not None else []
                await event_queue.enqueue_event(new_task(
                    task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=history))
            try:
                agent = name or await routes.pick_agent(_skill(context))
                user = getattr(context.call_context.user, "user_name", "") if context.call_context else ""
                address = Address(agent, session_for_context(f"{user}-{context_id}" if user else context_id))
            except CoagentError as exc:
                await updater.reject(new_text_message(f"{exc.code}: {exc}", context_id=context_id,
                                                      task_id=task_id, role=Role.ROLE_AGENT))
                return
            await updater.start_work()
            message = ChatMessage(role="user", content=context.get_user_input())
            artifact = uuid.uuid4().hex
            text: list[str] = []
            held = ""  # one piece is held back, so the last one can say it is the last

            try:
                # A2A clients send no Coagent-Timeout: tasks may take the longest a call may take
                async with routes.runtime.stream(address, message,
                                                 timeout=routes.gw.max_timeout) as replies:
                    async for chunk in replies:
                        piece = reply_text(chunk)
                        if not piece:
                            continue
                        if held:
                            await updater.add_artifact([new_text_part(held)], artifact_id=artifact,
                                                       name="reply", append=bool(text), last_chunk=False)
                            text.append(held)
                        held = piece
            except CoagentError as exc:
                await updater.failed(new_text_message(f"{exc.code}: {exc}", context_id=context_id,
                                                      task_id=task_id, role=Role.ROLE_AGENT))
                return
            if held:
                await updater.add_artifact([new_text_part(held)], artifact_id=artifact, name="reply",
                                           append=bool(text), last_chunk=True)
                text.append(held)
            await updater.complete(new_text_message("".join(text), context_id=context_id,
                                                    task_id=task_id, role=Role.ROLE_AGENT))

        async def cancel(self, context: Any, event_queue: Any) -> None:
            # The SDK has cancelled execute() (and so the agent's handler) by now.
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()

    return CoagentExecutor()


def _skill(context: Any) -> str | None:
    """``metadata.skill`` of the message, or of the request."""
    sources: list[Any] = []
    if context.message is not None:
        sources.append(context.message.metadata)
    sources.append(context.metadata or {})
    for metadata in sources:
        if "skill" in metadata:
            skill = metadata["skill"]
            return skill if isinstance(skill, str) else None
    return None


async def _call_asgi(app: Any, request: web.Request, body: bytes,
                     user: str | None = None) -> web.StreamResponse:
    """Serve ``request`` with the ASGI ``app``; its response is written through aiohttp.

    A client that goes away cancels this handler (the gateway runs with handler
    cancellation), which cancels the app, an SSE stream and the task's agent call with it.
    """
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": request.method, "scheme": request.scheme, "path": "/", "raw_path": b"/",
        "root_path": "", "query_string": request.query_string.encode(),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in request.headers.items()],
        "client": (request.remote or "", 0), "server": (request.host, 0), "state": {},
    }
    if user is not None:
        from starlette.authentication import AuthCredentials, SimpleUser

        scope["user"], scope["auth"] = SimpleUser(user), AuthCredentials(["authenticated"])
    delivered = False
    never = asyncio.Event()
    response: web.StreamResponse | None = None

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()  # the client's disconnect arrives as this task's cancellation
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            response = web.StreamResponse(status=message["status"])
            for key, value in message.get("headers", ()):
                if key.lower() not in (b"content-length", b"transfer-encoding"):
                    response.headers.add(key.decode("latin-1"), value.decode("latin-1"))
            await response.prepare(request)
        elif message["type"] == "http.response.body" and response is not None:
            data = message.get("body", b"")
            if data:
                await response.write(data)
            if not message.get("more_body", False):
                await response.write_eof()

    await app(scope, receive, send)
    if response is None:
        raise RuntimeError("the A2A app sent no response")
    return response
