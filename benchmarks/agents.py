"""Agent overhead benchmark: what the actor path adds to a model call, measured in the same run.

A ``StreamChatAgent`` answers from ``ScriptedModel`` (no network); the floor is the
same model client called directly. The difference per request is the agent's
overhead: mailbox, handler, history, chunk messages, reply stream.

    .venv/bin/python benchmarks/agents.py [--uvloop] [--quick]
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import parse_args, run

from coagent import Address
from coagent.agents import ChatAgent, ChatMessage, StreamChatAgent
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel

TARGET_US = 100.0
HISTORY = 20  # messages kept per session, so every request does the same work


async def best_seconds(fn, n: int, repeats: int = 5) -> float:
    """Best of ``repeats`` runs of ``fn(n)`` (which returns seconds), per operation."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        best = min(best, await fn(n))
    return best / n


def line(label: str, us: float, note: str = "") -> None:
    print(f"{label:<52} {us:>9.1f} us  {note}")


async def main(args) -> None:
    n = 2_000 if args.quick else 20_000
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"Python {sys.version.split()[0]}, {loop}, {n:,} requests per run\n")

    reply = Reply("Hello world", chunks=["Hello", " world"])
    model = ScriptedModel(default=reply, record=False)
    system = {"role": "system", "content": "You are a benchmark."}
    turn = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello world"}]
    messages = [system, *(turn * (HISTORY // 2)), {"role": "user", "content": "hi"}]

    async def direct_stream(k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            async with model.stream(list(messages)) as stream:
                async for _delta in stream:
                    pass
        return time.perf_counter() - start

    async def direct_complete(k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            await model.complete(list(messages))
        return time.perf_counter() - start

    async with LocalRuntime() as rt:
        await rt.register(AgentSpec("stream", new(
            StreamChatAgent, system=system["content"], client=model, max_history=HISTORY,
        ), idle_timeout=None))
        await rt.register(AgentSpec("chat", new(
            ChatAgent, system=system["content"], client=model, max_history=HISTORY,
        ), idle_timeout=None))
        stream_spec = rt.supervisor("stream").spec
        stream_addr = Address("stream", "bench")
        chat_addr = Address("chat", "bench")
        msg = ChatMessage(role="user", content="hi")
        raw = msg.encode()

        async def actor_stream(k: int) -> float:
            start = time.perf_counter()
            for _ in range(k):
                async for _chunk in rt.stream(stream_addr, msg):
                    pass
            return time.perf_counter() - start

        async def seed_stream(k: int) -> float:
            start = time.perf_counter()
            for _ in range(k):
                async for chunk in stream_spec.run_stream(raw, session_id="seed"):
                    ChatMessage.decode(chunk)
            return time.perf_counter() - start

        async def actor_ask(k: int) -> float:
            start = time.perf_counter()
            for _ in range(k):
                await rt.ask(chat_addr, msg)
            return time.perf_counter() - start

        for warm in (actor_stream, seed_stream, actor_ask):  # fill the histories
            await warm(HISTORY)

        floor_stream = await best_seconds(direct_stream, n) * 1e6
        floor_complete = await best_seconds(direct_complete, n) * 1e6
        typed = await best_seconds(actor_stream, n) * 1e6
        seed = await best_seconds(seed_stream, n) * 1e6
        ask = await best_seconds(actor_ask, n) * 1e6

    line("floor: ScriptedModel.stream called directly", floor_stream)
    line("StreamChatAgent via runtime.stream (typed)", typed)
    line("StreamChatAgent via spec.run_stream (seed, raw bytes)", seed)
    line("floor: ScriptedModel.complete called directly", floor_complete)
    line("ChatAgent via runtime.ask (typed)", ask)
    print()
    for label, value in (
        ("overhead per request: StreamChatAgent, typed", typed - floor_stream),
        ("overhead per request: StreamChatAgent, seed raw path", seed - floor_stream),
        ("overhead per request: ChatAgent ask", ask - floor_complete),
    ):
        verdict = "ok" if value <= TARGET_US else "OVER TARGET"
        line(label, value, f"(target <= {TARGET_US:g} us: {verdict})")


if __name__ == "__main__":
    run(main, parse_args(__doc__ or ""))
