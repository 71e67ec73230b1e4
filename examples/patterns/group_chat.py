"""GroupChat: a copywriter and an editor take turns until the editor approves.

Speakers alternate (round robin) on one shared transcript; the chat ends when a
message says ``APPROVED`` or after six turns, whichever comes first. Streaming the
pattern yields every turn as it is spoken (``sender`` names the speaker).

    python examples/patterns/group_chat.py

With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ``MODEL_API_VERSION``, ``MODEL_API_KEY``
as your provider needs) set, it asks that model; with none set it runs offline
against a local fake model server (see ``_offline.py``).
"""

import asyncio

from _offline import serve_offline

from coagent.agents import ChatAgent, ChatMessage, GroupChat, MaxRounds, ModelClient, TextMention
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

offline_server = serve_offline()  # None when MODEL_* names a provider

client = ModelClient()  # MODEL_NAME, MODEL_API_BASE, MODEL_API_VERSION, MODEL_API_KEY

writer = AgentSpec(
    "writer",
    new(
        ChatAgent,
        system="""\
You are a copywriter. Write a tagline for the product the user describes: one sentence, \
no quotes. When the editor gives feedback, answer with the revised tagline only.\
""",
        client=client,
    ),
)

editor = AgentSpec(
    "editor",
    new(
        ChatAgent,
        system="""\
You are a demanding marketing editor. Review the latest tagline. If it is concrete, catchy and \
at most 8 words, answer APPROVED and nothing else. Otherwise give one short, specific \
suggestion; never write the tagline yourself.\
""",
        client=client,
    ),
)

review = AgentSpec(
    "review",
    new(
        GroupChat,
        "writer",
        "editor",
        termination=TextMention("APPROVED") | MaxRounds(6),
    ),
)

BRIEF = "Write a tagline for Aurora, our new noise-cancelling headphones with a 40-hour battery."


async def main():
    async with LocalRuntime() as runtime:
        for spec in (writer, editor, review):
            await runtime.register(spec)

        print(f"user: {BRIEF}")
        tagline = ""
        result = review.run_stream(ChatMessage(role="user", content=BRIEF).encode())
        async for chunk in result:
            turn = ChatMessage.decode(chunk)
            print(f"{turn.sender}: {turn.content}", flush=True)
            if turn.sender == "writer":
                tagline = turn.content
        print(f"\nfinal tagline: {tagline}")


if __name__ == "__main__":
    set_stderr_logger()
    try:
        asyncio.run(main())
    finally:
        if offline_server is not None:
            offline_server.close()
