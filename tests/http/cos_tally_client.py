"""A CoS client process (the original's protocol, as ``tests/http/cos_client.py`` speaks it)
serving ``tally``: each ``Add`` takes 300 ms, then its ``n`` is appended to a file (the side
effect the durable CoS test counts) and the client replies, as the original's clients do.

    python tests/http/cos_tally_client.py http://127.0.0.1:PORT tally.txt
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.http.cos_client import Agent, Runtime


def _append(path: str, n: object) -> None:
    with open(path, "a", encoding="utf-8") as f:  # a line is one write: a kill leaves no half line
        f.write(f"{n}\n")


def tally_agent(path: str) -> type[Agent]:
    class Tally(Agent):
        async def handle(self, msg: dict[str, Any]) -> Any:  # type: ignore[override]
            await asyncio.sleep(0.3)
            _append(path, json.loads(msg.get("content") or "{}").get("n"))
            return {"header": {"type": "Tallied"}}

    return Tally


async def main(url: str, path: str) -> None:
    runtime = Runtime(url)
    await runtime.register("tally", tally_agent(path), "Counts what it is told.")
    await asyncio.gather(*runtime.tasks)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
