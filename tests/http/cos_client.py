"""A CoS client as the original's ``examples/cos/cos.py`` writes one (httpx + httpx-sse).

The same calls, bodies and SSE handling as there, so the gateway is tested against what
its existing clients send; what cos.py prints, this records.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urljoin

import httpx
from httpx_sse import aconnect_sse


class Channel:
    def __init__(self, base_url: str, auth: str = "") -> None:
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {auth}"} if auth else None

    async def publish(self, addr: dict[str, Any], msg: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as client:
            url = urljoin(self._base_url, "/runtime/channel/publish")
            resp = await client.post(url, json={"addr": addr, "msg": msg}, headers=self._headers)
            resp.raise_for_status()

    async def subscribe(self, path: str, data: dict[str, Any],
                        handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        async with httpx.AsyncClient(timeout=None) as client, aconnect_sse(
                client, "POST", urljoin(self._base_url, path), json=data,
                headers=self._headers or {}) as event_source:
            async for sse in event_source.aiter_sse():
                await handler(json.loads(sse.data))


class Runtime:
    def __init__(self, base_url: str, auth: str = "") -> None:
        self._channel = Channel(base_url, auth)
        self._factories: dict[str, Any] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.agents: dict[str, Agent] = {}
        self.events: list[dict[str, Any]] = []

    async def register(self, name: str, constructor: Any, description: str = "") -> None:
        self._factories[name] = constructor
        coro = self._channel.subscribe("/runtime/register", {"name": name, "description": description},
                                       self.handle)
        self.tasks.append(asyncio.create_task(coro))

    async def handle(self, data: dict[str, Any]) -> None:
        self.events.append(data)
        if data["header"]["type"] == "AgentCreated":
            addr = json.loads(data["content"])["addr"]
            agent = self._factories[addr["name"]](self._channel, addr)
            self.agents[addr["id"]] = agent
            coro = self._channel.subscribe("runtime/channel/subscribe", {"addr": addr}, agent.receive)
            agent.task = asyncio.create_task(coro)
            self.tasks.append(agent.task)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Agent:
    def __init__(self, channel: Channel, addr: dict[str, Any]) -> None:
        self.channel = channel
        self.addr = addr
        self.received: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def receive(self, msg: dict[str, Any]) -> None:
        self.received.append(msg)
        result = self.handle(msg)
        reply = msg.get("reply")
        if not reply:
            if hasattr(result, "aclose"):
                await result.aclose()
            elif hasattr(result, "close"):
                result.close()
            return
        if hasattr(result, "__aiter__"):
            async for x in result:
                await self.channel.publish(reply, x)
            await self.channel.publish(reply, {"header": {"type": "StopIteration"}})
        else:
            await self.channel.publish(reply, await result)

    def handle(self, msg: dict[str, Any]) -> Any:
        raise NotImplementedError


class Server(Agent):
    async def handle(self, msg: dict[str, Any]) -> Any:  # type: ignore[override]
        return {"header": {"type": "Pong"}}


class StreamServer(Agent):
    async def handle(self, msg: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        for word in ("Hi ", "there, ", "this ", "is ", "the ", "Pong ", "server."):
            await asyncio.sleep(0.01)
            yield {"header": {"type": "PartialPong"}, "content": json.dumps({"content": word})}
