"""A ``DynamicTriage`` configured by class attributes, the original Coagent's way.

    python examples/original/triage/triage.py --namespace team

``Concierge`` sets ``system`` and ``namespace`` as class attributes, and ``main`` changes
``Concierge.namespace`` from the command line before the runtime starts; ``new(Concierge)``
takes no client, so the model comes from the ``MODEL_*`` environment. With none set it
runs offline against a local fake model server (see ``_offline.py`` beside this file).
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _offline import serve_offline

from coagent.agents import ChatMessage, DynamicTriage, StreamChatAgent
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime


class Concierge(DynamicTriage):
    """Sends each question to the specialist of its namespace."""

    system = "You route each question to the one specialist who should answer it."
    namespace = ""  # set from --namespace before the runtime starts


class Models(StreamChatAgent):
    system = "You answer questions about models."


class Datasets(StreamChatAgent):
    system = "You answer questions about datasets."


concierge = AgentSpec("concierge", new(Concierge))
models = AgentSpec("team.models", new(Models), description="Questions about models.")
datasets = AgentSpec("team.datasets", new(Datasets), description="Questions about datasets.")
# Outside the namespace: the triage must not offer it.
weather = AgentSpec("weather", new(Models), description="The weather.")


async def main(questions: list[str]):
    offline = serve_offline()
    try:
        async with LocalRuntime() as runtime:
            for spec in (concierge, models, datasets, weather):
                await runtime.register(spec)
            for question in questions:
                print(f"User> {question}")
                print("Assistant> ", end="")
                msg = ChatMessage(role="user", content=question).encode()
                async for chunk in concierge.run_stream(msg, timeout=60):
                    print(ChatMessage.decode(chunk).content, end="", flush=True)
                print()
    finally:
        if offline is not None:
            offline.close()


if __name__ == "__main__":
    set_stderr_logger("ERROR")

    parser = argparse.ArgumentParser()
    parser.add_argument("--namespace", type=str, default="team")
    parser.add_argument("questions", nargs="*", default=[
        "Which models are popular?", "And which dataset should I train on?",
    ])
    args = parser.parse_args()

    Concierge.namespace = args.namespace
    asyncio.run(main(args.questions))
