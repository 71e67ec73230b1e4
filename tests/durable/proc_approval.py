"""A child process for the approval test: LocalRuntime + SQLite, a ChatAgent with an @approval tool.

``python -m tests.durable.proc_approval DB RUNS ask``: ask for a deletion, print the call id
of the ``ApprovalNeeded`` reply, then wait to be killed.
``python -m tests.durable.proc_approval DB RUNS approve CALL_ID``: approve it, print the reply.
The tool appends a line to the file RUNS each time it runs.
"""

from __future__ import annotations

import asyncio
import sys

from coagent.actors.address import Address
from coagent.agents import Approval, ApprovalNeeded, ChatAgent, ChatMessage, approval, tool
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel, tool_call

RUNS_FILE = sys.argv[2] if len(sys.argv) > 2 else "runs.txt"


class Ops(ChatAgent):
    @tool
    @approval("Delete the backups of {database}?")
    def delete_backups(self, database: str) -> str:
        """Delete all backups of a database."""
        with open(RUNS_FILE, "a") as f:
            f.write(database + "\n")
        return f"deleted the backups of {database}"


async def main(db: str, mode: str, call_id: str) -> None:
    if mode == "ask":
        model = ScriptedModel([Reply(tool_calls=[tool_call("delete_backups", database="db1")])])
    else:
        model = ScriptedModel([Reply("The backups of db1 are deleted.")])
    async with LocalRuntime(store=db) as rt:
        await rt.register(AgentSpec("ops", new(Ops, client=model), durable=True))
        address = Address("ops", "s1")
        if mode == "ask":
            needed = await rt.ask(address, ChatMessage(role="user", content="clean db1"),
                                  timeout=10)
            assert isinstance(needed, ApprovalNeeded)
            print("needed", needed.call_id, flush=True)
            await asyncio.sleep(60)
            return
        reply = await rt.ask(address, Approval(call_id=call_id), timeout=10)
        print("reply", reply.content, flush=True)
        history = [m["content"] for m in model.requests[-1].messages if m["role"] == "tool"]
        print("tool results", history, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else ""))
