"""An A2A agent built with the ``a2a-sdk``'s own server API (Starlette routes, uvicorn), for tests.

``reviewer`` answers ``reviewed (turn N): TEXT`` as an artifact, counting turns per context;
a message containing ``fail`` fails its task; ``slow`` sleeps until cancelled.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from a2a.helpers import new_task, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import a2a_pb2 as pb
from starlette.applications import Starlette


class Reviewer(AgentExecutor):
    def __init__(self) -> None:
        self.turns: Counter[str] = Counter()
        self.cancelled: list[str] = []
        self.headers: list[dict[str, str]] = []

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id or "", context.context_id or ""
        self.headers.append(dict(context.call_context.state.get("headers", {})))
        if context.current_task is None:
            await event_queue.enqueue_event(new_task(task_id, context_id, pb.TaskState.TASK_STATE_SUBMITTED,
                                                     history=[context.message] if context.message else []))
        updater = TaskUpdater(event_queue, task_id, context_id)
        await updater.start_work()
        text = context.get_user_input()
        if "fail" in text:
            await updater.failed(new_text_message("cannot review that", context_id=context_id,
                                                  task_id=task_id))
            return
        if "slow" in text:
            await asyncio.sleep(60)
        self.turns[context_id] += 1
        await updater.add_artifact([new_text_part(f"reviewed (turn {self.turns[context_id]}): {text}")],
                                   name="review", last_chunk=True)
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.cancelled.append(context.task_id or "")
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def card(url: str) -> pb.AgentCard:
    return pb.AgentCard(
        name="reviewer", description="Reviews a text.", version="1.0",
        supported_interfaces=[pb.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=pb.AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[pb.AgentSkill(id="review", name="review", description="Reviews a text.", tags=["text"])],
    )


@asynccontextmanager
async def serve_reviewer() -> AsyncIterator[tuple[str, Reviewer]]:
    """Serve the reviewer on a free loopback port; yields its base URL and executor."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    executor = Reviewer()
    agent_card = card(url)
    handler = DefaultRequestHandler(agent_executor=executor, task_store=InMemoryTaskStore(),
                                    agent_card=agent_card)
    app = Starlette(routes=create_agent_card_routes(agent_card) + create_jsonrpc_routes(handler, rpc_url="/"))
    # uvicorn binds the port itself: given a bound socket, it stalled ~48 ms on every message
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the A2A test server did not start"
            await asyncio.sleep(0.02)
        yield url, executor
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
