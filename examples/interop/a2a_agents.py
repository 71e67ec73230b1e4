"""A2A both ways: the gateway serves an agent over A2A, and A2AAgent calls it in a pipeline.

    python examples/interop/a2a_agents.py

One runtime plays the remote team: its ``glossary`` agent is served by a ``Gateway``
(bearer auth on), so any A2A client can read its card at
``/a2a/glossary/.well-known/agent-card.json`` and send it messages. Another runtime runs a
``Sequential`` whose second step is ``A2AAgent`` pointed at that URL. Runs offline: both
sides talk over loopback HTTP.
"""

import asyncio

import httpx

from coagent import Actor, Context, handler
from coagent.agents import ChatMessage, Sequential
from coagent.core import AgentSpec, new
from coagent.gateway import Gateway, Tokens
from coagent.interop import A2AAgent
from coagent.runtimes import LocalRuntime

TERMS = {"mcp": "Model Context Protocol", "a2a": "Agent2Agent protocol", "sse": "server-sent events"}


class Glossary(Actor):
    """Expands the abbreviations it knows (the remote agent)."""

    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        words = []
        for word in msg.content.split():
            bare = word.strip("?.,!").lower()
            words.append(word.replace(bare, f"{bare} ({TERMS[bare]})") if bare in TERMS else word)
        return ChatMessage(role="assistant", content=" ".join(words))


class Tidy(Actor):
    """Lower-cases and trims the question (the local first step)."""

    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        return ChatMessage(role="assistant", content=" ".join(msg.content.lower().split()))


async def main() -> None:
    async with LocalRuntime(name="remote-team") as remote:
        await remote.register(AgentSpec("glossary", new(Glossary), description="Expands abbreviations."))
        gateway = Gateway(remote, tokens=Tokens(["team-token"]))
        url = await gateway.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient() as http:
                card = (await http.get(f"{url}/a2a/glossary/.well-known/agent-card.json")).json()
            print("card:", card["name"], "-", card["description"],
                  "| auth:", ", ".join(card["securitySchemes"]))
            async with LocalRuntime(name="here") as local:
                glossary = AgentSpec("glossary", new(A2AAgent, f"{url}/a2a/glossary",
                                                     headers={"Authorization": "Bearer team-token"}))
                pipeline = AgentSpec("pipeline", new(Sequential, AgentSpec("tidy", new(Tidy)), glossary))
                await local.register(pipeline)
                for question in ("Does  MCP use SSE?", "What is A2A"):
                    reply = await pipeline.run(ChatMessage(role="user", content=question).encode(),
                                               session_id="reader", timeout=30)
                    print(f"{question!r} -> {ChatMessage.decode(reply).content}")
        finally:
            await gateway.stop()


if __name__ == "__main__":
    asyncio.run(main())
