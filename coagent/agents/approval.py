"""Tools that need an approval: the turn suspends until an ``Approval`` arrives.

::

    class Ops(ChatAgent):
        system = "You run operations for the team."

        @tool
        @approval("Delete the backups of {name}?")
        async def delete_backups(self, name: str) -> str:
            \"\"\"Delete all backups of a database.\"\"\"
            ...

    spec = AgentSpec("ops", new(Ops, client=client), durable=True)
    needed = await spec.run(ChatMessage(role="user", content="clean up db1").encode(), "s1")
    # ApprovalNeeded(call_id="call_1", tool="delete_backups", arguments='{"name":"db1"}', ...)
    reply = await runtime.ask(Address("ops", "s1"), Approval(call_id=needed.call_id))

When the model calls an approval tool, the tool does not run: the pending call becomes
part of the session's state and the caller gets an :class:`ApprovalNeeded` reply. An
:class:`Approval` (``approved=False`` rejects, with an optional ``note`` the model
reads) sent later, from any node and after any restart when the type is durable,
resumes the turn: an approved tool runs then, once; a second ``Approval`` for the
same call gets ``ApprovalNotPending``. A new chat message instead of a decision
drops the pending call (the model reads that message).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from coagent import Message
from coagent.agents.messages import ChatMessage
from coagent.errors import CoagentError

if TYPE_CHECKING:
    from coagent.agents.model import ToolCall
    from coagent.agents.tools import Tool, ToolResult

__all__ = ["approval", "Approval", "ApprovalNeeded", "ApprovalNotPending", "needs_approval",
           "hold_for_approval", "APPROVAL"]

#: ``PendingCall.kind`` and ``ChatMessage.type`` of a call waiting for an approval.
APPROVAL = "approval"

_DEFAULT = "Run {tool} with {arguments}?"


class ApprovalNeeded(Message):
    """The reply of a suspended turn: what is to be approved (answer with :class:`Approval`)."""

    call_id: str
    tool: str
    arguments: str
    prompt: str


class Approval(Message):
    """The decision on a pending tool call (``approved=False`` rejects it)."""

    call_id: str
    approved: bool = True
    note: str = ""


class ApprovalNotPending(CoagentError):
    """An ``Approval`` names no call that is waiting (decided already, or dropped)."""

    code = "approval_not_pending"


def approval(template: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a tool as needing an approval; ``template`` may use its arguments, ``{tool}``
    and ``{arguments}`` (the JSON text)."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func.__coagent_approval__ = template or _DEFAULT  # type: ignore[attr-defined]
        return func

    return wrap


def needs_approval(t: Tool) -> str | None:
    """The prompt template of a tool that needs an approval, else ``None``."""
    fn = getattr(t, "fn", None)
    template = getattr(fn, "__coagent_approval__", None)
    if template is None:
        template = getattr(getattr(fn, "__func__", None), "__coagent_approval__", None)
    return template if isinstance(template, str) else None


def hold_for_approval(calls: Sequence[ToolCall], tools: Mapping[str, Tool]
                      ) -> tuple[list[ToolCall], list[ToolResult]]:
    """Split ``calls`` into those to run now and the results of those held for approval.

    The first held call asks for the approval (its result carries the question); any
    other approval call of the same response is refused, to be made again later.
    """
    from coagent.agents.tools import ToolResult

    run: list[ToolCall] = []
    held: list[ToolResult] = []
    for call in calls:
        t = tools.get(call.name)
        template = needs_approval(t) if t is not None else None
        if template is None:
            run.append(call)
            continue
        if held:
            held.append(ToolResult(call, f"Error: {call.name} needs an approval; call it again"
                                         " once the pending approval is decided", True))
            continue
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            args = {}
        fields = {**(args if isinstance(args, dict) else {}), "tool": call.name,
                  "arguments": call.arguments}
        try:
            prompt = template.format(**fields)
        except (KeyError, IndexError, ValueError):
            prompt = _DEFAULT.format(**fields)
        question = ChatMessage(role="assistant", content=prompt, type=APPROVAL, to_user=True)
        held.append(ToolResult(call, f"Waiting for an approval: {prompt}", user_message=question))
    return run, held
