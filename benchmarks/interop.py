"""MCP and A2A benchmark: our paths against the SDKs' own, measured in the same run.

    .venv/bin/python benchmarks/interop.py [--quick]

MCP: one stdio server (examples/interop/_weather_mcp.py). The floor is the ``mcp`` SDK's
``Client.call_tool`` on its own connection; ours is ``MCPTools`` (argument validation
against the input schema, the shared connection, the result rendered for a model).

A2A: the same ``a2a-sdk`` client sends non-streaming messages. The floor is an agent
served by the SDK's own server (Starlette routes on uvicorn) whose executor sends the
events ours sends (task, working, one artifact, completed) without any agent; ours is
``coagent gateway``'s A2A endpoint in front of an actor that answers the same (the SDK's request handler, plus the ASGI bridge in aiohttp and the actor hop).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
from _common import parse_args, report, run  # noqa: E402

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from coagent import Actor, Context, handler  # noqa: E402
from coagent.agents import ChatMessage  # noqa: E402
from coagent.testing import free_port  # noqa: E402

SERVER = str(_HERE.parent / "examples" / "interop" / "_weather_mcp.py")


async def timed(n: int, call: Any, repeats: int = 3) -> float:
    """The best rate (calls/s) of ``repeats`` runs of ``n`` sequential calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, time.perf_counter() - start)
    return n / best


async def mcp_figures(n: int) -> None:
    from mcp import Client, StdioServerParameters

    from coagent.interop import MCPTools

    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    # Both connections open at once and timed in alternating rounds, so a loaded machine's
    # drift does not favour whichever ran first.
    async with Client(params, cache=None) as client, MCPTools.stdio(sys.executable, SERVER) as tools:
        tool = {t.name: t for t in await tools.list_tools()}["to_fahrenheit"]
        await client.call_tool("to_fahrenheit", {"celsius": 21})
        await tool.call('{"celsius": 21}')
        floor = ours = 0.0
        for _ in range(3):
            floor = max(floor, await timed(n, lambda: client.call_tool("to_fahrenheit", {"celsius": 21}), 1))
            ours = max(ours, await timed(n, lambda: tool.call('{"celsius": 21}'), 1))
    report("floor: mcp SDK Client.call_tool (stdio)", floor, "calls/s")
    report("MCPTools tool call (stdio)", ours, "calls/s", floor)


class Answer(Actor):
    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        return ChatMessage(role="assistant", content="ok")


async def a2a_figures(n: int) -> None:
    import httpx
    import uvicorn
    from a2a.client import ClientConfig, create_client
    from a2a.helpers import new_task, new_text_message, new_text_part
    from a2a.server.agent_execution import AgentExecutor
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import a2a_pb2 as pb
    from starlette.applications import Starlette

    from coagent.core import AgentSpec, new
    from coagent.gateway import Gateway
    from coagent.runtimes import LocalRuntime

    class Quick(AgentExecutor):
        """The events our executor sends (a task, working, one artifact, completed), no agent."""

        async def execute(self, context: Any, event_queue: Any) -> None:
            task_id, context_id = context.task_id, context.context_id
            await event_queue.enqueue_event(new_task(task_id, context_id, pb.TaskState.TASK_STATE_SUBMITTED,
                                                     history=[context.message]))
            updater = TaskUpdater(event_queue, task_id, context_id)
            await updater.start_work()
            await updater.add_artifact([new_text_part("ok")], name="reply", last_chunk=True)
            await updater.complete(new_text_message("ok", context_id=context_id, task_id=task_id))

        async def cancel(self, context: Any, event_queue: Any) -> None:
            return None

    def request() -> Any:
        return pb.SendMessageRequest(message=pb.Message(
            role=pb.Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=[pb.Part(text="hi")]))

    async def rate(url: str) -> float:
        async with httpx.AsyncClient() as http:
            client = await create_client(url, ClientConfig(httpx_client=http, streaming=False))

            async def one() -> None:
                async for _ in client.send_message(request()):
                    pass

            await one()
            result = await timed(n, one)
            await client.close()
            return result

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    card = pb.AgentCard(
        name="quick", description="answers at once", version="1",
        supported_interfaces=[pb.AgentInterface(url=base, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=pb.AgentCapabilities(streaming=True), default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[pb.AgentSkill(id="quick", name="quick", description="answers", tags=["x"])])
    handler_ = DefaultRequestHandler(agent_executor=Quick(), task_store=InMemoryTaskStore(), agent_card=card)
    app = Starlette(routes=create_agent_card_routes(card) + create_jsonrpc_routes(handler_, rpc_url="/"))
    # uvicorn binds the port itself: given our bound socket instead, it answered ~20 msgs/s
    # here (about 48 ms a message, the mark of a delayed-ACK stall).
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        sdk_server = await rate(base)
    finally:
        server.should_exit = True
        await task
    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("answer", new(Answer)))
        gateway = Gateway(runtime)
        url = await gateway.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient() as http, httpx.AsyncClient() as a2a_http:
                body = {"type": "ChatMessage", "content": {"role": "user", "content": "hi"}}

                async def plain() -> None:
                    (await http.post(f"{url}/v1/agents/answer/sessions/s1/call", json=body)).raise_for_status()

                client = await create_client(f"{url}/a2a/answer",
                                             ClientConfig(httpx_client=a2a_http, streaming=False))

                async def a2a() -> None:
                    async for _ in client.send_message(request()):
                        pass

                await plain()
                await a2a()
                floor = ours = 0.0
                for _ in range(3):  # alternating rounds, as for MCP
                    floor = max(floor, await timed(n, plain, 1))
                    ours = max(ours, await timed(n, a2a, 1))
                await client.close()
        finally:
            await gateway.stop()
    report("floor: gateway /v1 call to the actor (httpx)", floor, "calls/s")
    report("gateway A2A SendMessage to the actor (a2a-sdk)", ours, "msgs/s", floor)
    report("floor 2: a2a-sdk's own server (uvicorn)", sdk_server, "msgs/s")
    report("gateway A2A SendMessage, against floor 2", ours, "msgs/s", sdk_server)


async def main(args: Any) -> None:
    n = 50 if args.quick else 500
    await mcp_figures(n)
    await a2a_figures(n // 2)


if __name__ == "__main__":
    run(main, parse_args(__doc__ or ""))
