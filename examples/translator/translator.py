# translator.py
"""The seed README's monolithic quick start: a streaming translator agent.

    python examples/translator/translator.py                  # one translation, in process
    coagent node examples/translator/translator.py --server nats://localhost:4222   # serve it

With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ``MODEL_API_VERSION``, ``MODEL_API_KEY``
as your provider needs) set, it asks that model. With no ``MODEL_*`` variable set it
runs offline: a local fake OpenAI-compatible server (``coagent.testing.FakeOpenAIServer``)
answers every request, over the same litellm HTTP path, from a small phrasebook
(see ``_phrasebook.py``), so a served translator keeps answering as long as it is called.
"""

import asyncio
import os

from _phrasebook import serve_offline  # beside this file

from coagent.agents import ChatMessage, ModelClient, StreamChatAgent
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

offline_server = serve_offline()  # None when MODEL_* names a provider

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
    description="translates Chinese to English",
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
