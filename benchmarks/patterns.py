"""Pattern overhead benchmark: what orchestrating through ``Sequential`` adds per step.

A chain of N ``ChatAgent`` steps on ``ScriptedModel`` (no network) is run two ways in
the same process, on the same agent types and equally long histories:

- direct: the caller asks each agent in turn with ``runtime.ask``, turning each answer
  into the next step's user message (what ``Sequential`` does, by hand);
- pattern: the caller asks a ``Sequential`` of the same agents once.

The difference per request, divided by N, is the orchestration overhead per step: the
extra hop to the pattern actor, its handler, and each step's ask from inside an actor.
The streamed line does the same with a ``StreamChatAgent`` as the last step (the seed
README's chain shape), streamed through the pattern vs streamed directly.

    .venv/bin/python benchmarks/patterns.py [--uvloop] [--quick]
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
from coagent.agents import ChatAgent, ChatMessage, Sequential, StreamChatAgent
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel

STEPS = (1, 2, 4, 8)
HISTORY = 20  # messages kept per agent session, so every request does the same work


async def best_seconds(fn, n: int, repeats: int = 5) -> float:
    """Best of ``repeats`` runs of ``fn(n)`` (which returns seconds), per operation."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        best = min(best, await fn(n))
    return best / n


def row(*cells: object) -> None:
    print("".join(f"{c:>17}" if i else f"{c:<6}" for i, c in enumerate(cells)))


async def measure(rt: LocalRuntime, steps: int, n: int, stream: bool) -> tuple[float, float]:
    """(direct, pattern) microseconds per request for a chain of ``steps`` agents."""
    kind = "s" if stream else "a"
    names = [f"{kind}{steps}.step{i}" for i in range(steps)]
    chain = f"{kind}{steps}.chain"
    msg = ChatMessage(role="user", content="hi")
    direct_addrs = [Address(name, "direct") for name in names]
    chain_addr = Address(chain, "pattern")

    async def direct(k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            current = msg
            for addr in direct_addrs[:-1]:
                reply = await rt.ask(addr, current)
                current = ChatMessage(role="user", content=reply.content)
            if stream:
                async for _chunk in rt.stream(direct_addrs[-1], current):
                    pass
            else:
                await rt.ask(direct_addrs[-1], current)
        return time.perf_counter() - start

    async def pattern(k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            if stream:
                async for _chunk in rt.stream(chain_addr, msg):
                    pass
            else:
                await rt.ask(chain_addr, msg)
        return time.perf_counter() - start

    await direct(HISTORY)  # fill the histories of both sessions
    await pattern(HISTORY)
    return await best_seconds(direct, n) * 1e6, await best_seconds(pattern, n) * 1e6


async def main(args) -> None:
    n = 300 if args.quick else 3_000
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"Python {sys.version.split()[0]}, {loop}, {n:,} requests per run, best of 5\n")

    model = ScriptedModel(default=Reply("ok", chunks=["o", "k"]), record=False)
    async with LocalRuntime() as rt:
        for stream in (False, True):
            kind = "s" if stream else "a"
            for steps in STEPS:
                names = [f"{kind}{steps}.step{i}" for i in range(steps)]
                for i, name in enumerate(names):
                    cls = StreamChatAgent if stream and i == steps - 1 else ChatAgent
                    await rt.register(AgentSpec(name, new(
                        cls, system=f"step {i}", client=model, max_history=HISTORY,
                    ), idle_timeout=None))
                await rt.register(AgentSpec(f"{kind}{steps}.chain", new(Sequential, *names),
                                            idle_timeout=None))

        results = {}
        for stream in (False, True):
            for steps in STEPS:
                results[stream, steps] = await measure(rt, steps, n, stream)

    for stream in (False, True):
        title = "Sequential, streamed (last step streams)" if stream else "Sequential, asked"
        print(title)
        row("steps", "direct us/req", "pattern us/req", "pattern/direct", "overhead us/req",
            "us per step")
        for steps in STEPS:
            direct, pattern = results[stream, steps]
            overhead = pattern - direct
            row(steps, f"{direct:.1f}", f"{pattern:.1f}", f"{pattern / direct:.2f}x",
                f"{overhead:.1f}", f"{overhead / steps:.1f}")
        (d1, p1), (dn, pn) = results[stream, STEPS[0]], results[stream, STEPS[-1]]
        slope = ((pn - dn) - (p1 - d1)) / (STEPS[-1] - STEPS[0])
        fixed = (p1 - d1) - slope * STEPS[0]
        print(f"  fit: {fixed:.1f} us per request (the hop to the pattern) + {slope:.1f} us per step\n")


if __name__ == "__main__":
    run(main, parse_args(__doc__ or ""))
