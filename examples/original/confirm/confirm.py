"""A tool that asks the user to confirm before it runs (``@tool @confirm``, ``RunContext``).

    python examples/original/confirm/confirm.py

When the model calls ``search_model``, the ``@confirm`` decorator answers the user with
a question instead of running it. The user's "yes" runs it, and the
model answers from its result. Runs offline without ``MODEL_*`` (see ``_offline.py``).
"""

import asyncio
import os
import sys
from enum import Enum

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _offline import serve_offline
from pydantic import Field

from coagent.agents import RunContext, StreamChatAgent, confirm, tool
from coagent.agents.messages import ChatMessage
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

# Stands in for the hub's search API, so the example runs offline.
CATALOG = {"llama": ["llama-3-8b", "llama-3-70b"], "qwen": ["qwen-2-7b"]}


class Language(str, Enum):  # noqa: UP042 - as the original wrote it
    unknown = ""
    en = "en"
    zh = "zh"


class ModelHub(StreamChatAgent):
    """Finds models in a (local, stand-in) model hub."""

    system = "You find models in the model hub for the user."

    @tool
    @confirm("Search the hub for '{name}'? Reply yes to go ahead.")
    async def search_model(
        self,
        ctx: RunContext,
        name: str = Field(description="Model name to look for"),
        language: Language = Field(description="Language the model should support"),  # noqa: B008
        limit: int = Field(default=10, description="At most this many results"),
    ) -> str | ChatMessage:
        """Look models up by name."""
        found = CATALOG.get(name, [])[:limit]
        return ", ".join(found) if found else "Sorry, no models found."


hub = AgentSpec("hub", new(ModelHub))


async def main():
    offline = serve_offline()
    try:
        async with LocalRuntime() as runtime:
            await runtime.register(hub)
            for text in ("Find models named llama", "yes"):
                print(f"User> {text}")
                msg = ChatMessage(role="user", content=text).encode()
                parts = []
                kind = ""
                async for chunk in hub.run_stream(msg, session_id="user-1", timeout=60):
                    reply = ChatMessage.decode(chunk)
                    kind = kind or (reply.type if reply.to_user else "")
                    parts.append(reply.content)
                label = f" [{kind}]" if kind else ""
                print(f"Assistant{label}> {''.join(parts)}")
    finally:
        if offline is not None:
            offline.close()


if __name__ == "__main__":
    set_stderr_logger("ERROR")
    asyncio.run(main())
