"""Suspend and resume: a tool that needs an approval, decided after a restart, runs once."""

from __future__ import annotations

from pathlib import Path

import pytest

from coagent.actors.address import Address
from coagent.agents import (
    Approval,
    ApprovalNeeded,
    ApprovalNotPending,
    ChatAgent,
    ChatMessage,
    StreamChatAgent,
    approval,
    tool,
)
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.agents.helpers import collect

RUNS: list[str] = []


class Ops(ChatAgent):
    system = "You run operations."

    @tool
    @approval("Delete the backups of {database}?")
    async def delete_backups(self, database: str) -> str:
        """Delete all backups of a database."""
        RUNS.append(database)
        return f"deleted the backups of {database}"

    @tool
    async def list_backups(self, database: str) -> str:
        """List the backups of a database."""
        return "b1, b2"


class StreamOps(StreamChatAgent):
    @tool
    @approval()
    async def delete_backups(self, database: str) -> str:
        """Delete all backups of a database."""
        RUNS.append(database)
        return "deleted"


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


@pytest.fixture(autouse=True)
def _runs() -> None:
    RUNS.clear()


async def test_an_approved_call_runs_once_after_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("list_backups", database="db1"),
                          tool_call("delete_backups", database="db1")]),
        Reply("All backups of db1 are gone."),
    ])
    spec = AgentSpec("ops", new(Ops, client=model), durable=True)
    address = Address("ops", "s1")
    async with LocalRuntime(store=db) as rt:
        await rt.register(spec)
        needed = await rt.ask(address, user("clean up db1"), timeout=5)
    assert isinstance(needed, ApprovalNeeded)
    assert (needed.tool, needed.prompt) == ("delete_backups", "Delete the backups of db1?")
    assert '"db1"' in needed.arguments and RUNS == []

    async with LocalRuntime(store=db) as rt:  # the node restarted: the turn is in the store
        await rt.register(spec)
        reply = await rt.ask(address, Approval(call_id=needed.call_id), timeout=5)
        assert reply.content == "All backups of db1 are gone."
        assert RUNS == ["db1"]
        with pytest.raises(ApprovalNotPending):
            await rt.ask(address, Approval(call_id=needed.call_id), timeout=5)
    assert RUNS == ["db1"]
    # The model saw the tool's real result after the approval, and the listing before it.
    tool_results = [m["content"] for m in model.requests[-1].messages if m["role"] == "tool"]
    assert tool_results[0] == "b1, b2"
    assert tool_results[-1] == "deleted the backups of db1"


async def test_a_rejected_call_never_runs_and_the_model_reads_the_note(tmp_path: Path) -> None:
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("delete_backups", database="db2")]),
        Reply("Understood, I kept them."),
    ])
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(AgentSpec("ops", new(Ops, client=model), durable=True))
        needed = await rt.ask(Address("ops", "s1"), user("clean up db2"), timeout=5)
        reply = await rt.ask(Address("ops", "s1"),
                             Approval(call_id=needed.call_id, approved=False, note="keep them"),
                             timeout=5)
    assert reply.content == "Understood, I kept them."
    assert RUNS == []
    assert model.requests[-1].messages[-1] == {
        "role": "user", "content": "I rejected the call to delete_backups: keep them"}


async def test_a_plain_yes_does_not_approve_and_a_new_message_drops_the_call(
    tmp_path: Path,
) -> None:
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("delete_backups", database="db3")]),
        Reply("OK."),
    ])
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(AgentSpec("ops", new(Ops, client=model), durable=True))
        needed = await rt.ask(Address("ops", "s1"), user("clean up db3"), timeout=5)
        assert (await rt.ask(Address("ops", "s1"), user("yes"), timeout=5)).content == "OK."
        with pytest.raises(ApprovalNotPending):
            await rt.ask(Address("ops", "s1"), Approval(call_id=needed.call_id), timeout=5)
    assert RUNS == []


async def test_a_streaming_agent_ends_its_stream_with_the_approval_request(
    tmp_path: Path,
) -> None:
    model = ScriptedModel([Reply(tool_calls=[tool_call("delete_backups", database="db4")]),
                           Reply("Done.")])
    async with LocalRuntime(store=str(tmp_path / "s.db")) as rt:
        await rt.register(AgentSpec("ops", new(StreamOps, client=model), durable=True))
        items = await collect(rt.stream(Address("ops", "s1"), user("clean up db4")))
        assert isinstance(items[-1], ApprovalNeeded)
        assert items[-1].prompt == 'Run delete_backups with {"database":"db4"}?'
        reply = await rt.ask(Address("ops", "s1"), Approval(call_id=items[-1].call_id), timeout=5)
        assert reply.content == "Done."
    assert RUNS == ["db4"]


def test_a_turn_suspended_before_a_kill_9_is_approved_after_the_restart_and_runs_once(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    db, runs = str(tmp_path / "s.db"), str(tmp_path / "runs.txt")
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = [sys.executable, "-m", "tests.durable.proc_approval", db, runs]
    asker = subprocess.Popen([*args, "ask"], cwd=root, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert asker.stdout is not None
    line = asker.stdout.readline()
    assert line.startswith("needed "), asker.stderr.read() if asker.stderr else ""
    call_id = line.split()[1]
    os.kill(asker.pid, signal.SIGKILL)
    asker.wait(10)
    assert not os.path.exists(runs)  # nothing ran before the approval
    approver = subprocess.run([*args, "approve", call_id], cwd=root, env=env,
                              capture_output=True, text=True, timeout=60)
    assert approver.returncode == 0, approver.stderr
    assert "reply The backups of db1 are deleted." in approver.stdout
    assert "deleted the backups of db1" in approver.stdout  # the model read the tool's result
    with open(runs) as f:
        assert f.read().splitlines() == ["db1"]
