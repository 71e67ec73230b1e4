"""Streaming ping-pong: a handler that yields replies, and a caller that stops early.

    python examples/stream_ping_pong.py
"""

import asyncio
from collections.abc import AsyncIterator

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime


class StreamPing(Message):
    words: int = 5


class StreamPong(Message):
    word: str = ""


class Speaker(Actor):
    @handler
    async def speak(self, msg: StreamPing, ctx: Context) -> AsyncIterator[StreamPong]:
        for i in range(msg.words):
            await asyncio.sleep(0.01)  # a model producing tokens
            yield StreamPong(word=f"word{i} ")


speaker = AgentSpec("speaker", new(Speaker))


async def main() -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(speaker)

        async for pong in runtime.stream(Address("speaker", "s1"), StreamPing(words=5)):
            print(pong.word, end="", flush=True)
        print()

        # Seed style: run_stream over encoded messages.
        async for chunk in speaker.run_stream(StreamPing(words=3).encode()):
            print(StreamPong.decode(chunk).word, end="", flush=True)
        print()

        # Leaving the loop early cancels the handler on the other side.
        async with runtime.stream(Address("speaker", "s1"), StreamPing(words=1000)) as pongs:
            async for pong in pongs:
                if pong.word.startswith("word2"):
                    print("stopped after", pong.word.strip())
                    break


if __name__ == "__main__":
    set_stderr_logger("WARNING")
    asyncio.run(main())
