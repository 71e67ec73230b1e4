# translator.py
"""The seed README's monolithic quick start: a streaming translator agent.

    python examples/translator/translator.py

With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ``MODEL_API_VERSION``, ``MODEL_API_KEY``
as your provider needs) set, it asks that model. With no ``MODEL_*`` variable set it
runs offline: a local fake OpenAI-compatible server (``coagent.testing.FakeOpenAIServer``)
answers with a scripted translation, over the same litellm HTTP path.
"""

import asyncio
import os

from coagent.agents import ChatMessage, ModelClient, StreamChatAgent
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

MODEL_VARIABLES = ("MODEL_NAME", "MODEL_API_BASE", "MODEL_API_VERSION", "MODEL_API_KEY")


def start_offline_model():
    """Without MODEL_* variables, point them at a local fake server with a scripted answer."""
    if any(os.getenv(name) for name in MODEL_VARIABLES):
        return None
    from coagent.testing import FakeOpenAIServer, Reply

    server = FakeOpenAIServer(
        [Reply("Hello, world!", chunks=["Hello", ",", " world", "!"])]
    ).start_in_thread()
    os.environ.update(server.env())
    return server


offline_server = start_offline_model()

client = ModelClient(
    model=os.getenv("MODEL_NAME"),
    api_base=os.getenv("MODEL_API_BASE"),
    api_version=os.getenv("MODEL_API_VERSION"),
    api_key=os.getenv("MODEL_API_KEY"),
)

translator = AgentSpec(
    "translator",
    new(
        StreamChatAgent,
        system="You are a professional translator that can translate Chinese to English.",
        client=client,
    ),
)


async def main():
    async with LocalRuntime() as runtime:
        await runtime.register(translator)

        result = translator.run_stream(
            ChatMessage(role="user", content="你好，世界").encode()
        )
        async for chunk in result:
            msg = ChatMessage.decode(chunk)
            print(msg.content, end="", flush=True)
        print()


if __name__ == "__main__":
    set_stderr_logger()
    try:
        asyncio.run(main())
    finally:
        if offline_server is not None:
            offline_server.close()
