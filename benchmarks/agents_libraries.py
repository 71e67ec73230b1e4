"""Libraries against the agents layer's own code, measured in the same run.

Each figure is printed with its ratio to the floor, the package's own code doing the
same job:

* streamed answer assembly: ``litellm.stream_chunk_builder`` vs ``StreamAssembler``
  (kept: the builder is many times slower and runs on the event loop);
* tool docstring parsing: griffe vs ``coagent.agents.tools._parse_docstring`` (kept:
  griffe's import alone blocks the loop for a fifth of a second, and each parse is ~10x);
* the model retry policy: ``call_with_retries`` (tenacity) vs a bare ``await`` on a call
  that succeeds (adopted: a few microseconds next to a model call's milliseconds).

    .venv/bin/python benchmarks/agents_libraries.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from _common import parse_args

from coagent.agents.model import import_litellm
from coagent.agents.retry import call_with_retries
from coagent.agents.streaming import StreamAssembler
from coagent.agents.tools import _parse_docstring

DOC = '''Current weather in a city.

Looks the city up and reports today's weather.

Args:
    city: the city name, e.g. "Paris".
        Any language works.
    unit (str): temperature unit, C or F.

Returns:
    the weather as text.
'''


def _chunks(litellm: Any, with_usage: bool) -> list[Any]:
    from litellm.types.utils import (
        ChatCompletionDeltaToolCall,
        Delta,
        Function,
        ModelResponseStream,
        StreamingChoices,
        Usage,
    )

    def chunk(**delta: Any) -> Any:
        return ModelResponseStream(id="c1", model="m",
                                   choices=[StreamingChoices(index=0, delta=Delta(**delta))])

    out = [chunk(content=f"w{i} ") for i in range(400)]
    out.append(chunk(tool_calls=[ChatCompletionDeltaToolCall(
        index=0, id="call_1", type="function", function=Function(name="f", arguments=""))]))
    out.extend(chunk(tool_calls=[ChatCompletionDeltaToolCall(
        index=0, function=Function(arguments="x"))]) for _ in range(100))
    out.append(ModelResponseStream(id="c1", model="m", choices=[
        StreamingChoices(index=0, finish_reason="tool_calls", delta=Delta())]))
    if with_usage:
        out.append(ModelResponseStream(id="c1", model="m", choices=[], usage=Usage(
            prompt_tokens=10, completion_tokens=500, total_tokens=510)))
    return out


def _assemble(chunks: list[Any]) -> StreamAssembler:
    parts = StreamAssembler()
    for c in chunks:
        parts.add(c)
    return parts


def _best(fn: Any, number: int, repeats: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number


def stream_assembly(quick: bool) -> None:
    litellm = import_litellm()
    n = 3 if quick else 10
    for with_usage in (True, False):
        chunks = _chunks(litellm, with_usage)
        own = _best(lambda chunks=chunks: _assemble(chunks), n)
        builder = _best(lambda chunks=chunks: litellm.stream_chunk_builder(chunks), n)
        parts, built = _assemble(chunks), litellm.stream_chunk_builder(chunks)
        assert parts.content == built.choices[0].message.content
        assert parts.tool_calls[0][2] == built.choices[0].message.tool_calls[0].function.arguments
        label = "with a usage chunk" if with_usage else "without usage"
        print(f"stream assembly, {len(chunks)} chunks {label}: StreamAssembler {own * 1e3:.2f} ms"
              f" (floor), stream_chunk_builder {builder * 1e3:.2f} ms = {builder / own:.1f}x")


def _fresh_import_seconds(module: str) -> float:
    """Seconds ``import module`` takes in a fresh interpreter (best of three)."""
    import subprocess

    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(3)]
    return min(runs)


def docstrings(quick: bool) -> None:
    import logging

    try:
        import griffe
    except ImportError:
        print("docstring parsing: griffe is not installed (pip install griffe) - skipped")
        return
    imported = _fresh_import_seconds("griffe")
    logging.getLogger("griffe").setLevel(logging.ERROR)  # it warns about missing annotations
    n = 200 if quick else 2000
    own = _best(lambda: _parse_docstring(DOC), n)
    lib = _best(lambda: griffe.Docstring(DOC, parser="google").parse(), n)
    print(f"docstring parse: own {own * 1e6:.1f} us (floor), griffe {lib * 1e6:.1f} us"
          f" = {lib / own:.1f}x; importing griffe (fresh process) {imported * 1e3:.0f} ms"
          f" = {imported / own:.0f}x one parse")


def retry_overhead(quick: bool) -> None:
    async def succeed() -> int:
        return 1

    async def bare(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await succeed()
        return time.perf_counter() - t

    async def retried(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await call_with_retries(succeed, retries=2, backoff_min=0.5, backoff_max=8.0,
                                    deadline=time.monotonic() + 60)
        return time.perf_counter() - t

    async def main() -> None:
        n = 2000 if quick else 20000
        floor = min([await bare(n) for _ in range(3)]) / n
        lib = min([await retried(n) for _ in range(3)]) / n
        print(f"retry policy on a call that succeeds: bare await {floor * 1e6:.2f} us (floor),"
              f" call_with_retries (tenacity) {lib * 1e6:.2f} us = {lib / floor:.0f}x;"
              f" added {(lib - floor) * 1e6:.1f} us per model call")

    asyncio.run(main())


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    stream_assembly(args.quick)
    docstrings(args.quick)
    retry_overhead(args.quick)
