"""Tools that ask the user first: ``@confirm(template)`` and ``@submit(template)``.

::

    class CSGHub(StreamChatAgent):
        system = "You help users find models."

        @tool
        @confirm("Search the hub for '{name}'? Reply yes to go ahead.")
        async def search_model(self, ctx: RunContext, name: str, limit: int = 10) -> str:
            \"\"\"Search models by name.\"\"\"
            ...

When the model calls ``search_model``, the tool does not run: the agent's reply is
``ChatMessage(type="confirm", to_user=True, content="Search the hub for ...?")``
and the session remembers the call. If the user's next message confirms ("yes",
"ok", "确认", ...; override :meth:`ChatAgent.is_confirmation` for a different rule),
the remembered call runs with ``ctx.user_confirmed`` true and the model answers from
its result; any other reply drops the call and the model reads that reply instead.

``@submit`` works the same way with a form: the reply is a ``ChatMessage(type="submit",
to_user=True)`` holding the tool's JSON schema and the arguments the model chose; the
user answers with ``ChatMessage(role="user", type="submit", content=<JSON object>)``,
and the call runs with those arguments (over the model's) and ``ctx.user_submitted`` true.

A client that resends the whole conversation (``ChatHistory``) to a fresh session works
too, as with the original Coagent: a confirmation right after a ``confirm`` message, or a
``submit`` message, sets the flag for that turn, so the tool runs when the model calls it
again. The remembered call is part of the session's state: with ``AgentSpec(...,
durable=True)`` it is stored, and a confirmation after a restart still runs it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import msgspec

from coagent.agents.messages import ChatMessage
from coagent.agents.model import ToolCall

__all__ = ["RunContext", "confirm", "submit", "PendingCall", "is_affirmative"]

_DEFAULT_SUBMIT = """\
Fill in this form and send it back as JSON:

```schema
{schema}
```

```input
{input}
```"""


class RunContext(dict[str, Any]):
    """Context variables of a running agent that its tools see (a ``ctx: RunContext`` parameter).

    ``user_confirmed`` / ``user_submitted`` say whether this call was confirmed or submitted
    by the user; the rest is free for tools to share state within a session.
    """

    @property
    def user_confirmed(self) -> bool:
        return bool(self.get("user_confirmed", False))

    @user_confirmed.setter
    def user_confirmed(self, value: bool) -> None:
        self["user_confirmed"] = value

    @property
    def user_submitted(self) -> bool:
        return bool(self.get("user_submitted", False))

    @user_submitted.setter
    def user_submitted(self, value: bool) -> None:
        self["user_submitted"] = value


def _run_context(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RunContext | None:
    for value in (*kwargs.values(), *args):
        if isinstance(value, RunContext):
            return value
    return None


def confirm(template: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Ask the user to confirm (``template.format(**arguments)``) before the tool runs."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        async def run(*args: Any, **kwargs: Any) -> Any:
            ctx = _run_context(args, kwargs)
            if ctx is not None and not ctx.user_confirmed:
                return ChatMessage(role="assistant", content=template.format(**kwargs),
                                   type="confirm", to_user=True)
            return await func(*args, **kwargs)

        run.__coagent_asks__ = "confirm"  # type: ignore[attr-defined]
        return run

    return wrap


def submit(template: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Ask the user to fill in the tool's arguments (a form with its JSON schema) first.

    ``template`` may use ``{schema}`` and ``{input}`` (both JSON text).
    """
    text = template or _DEFAULT_SUBMIT

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        schema_cache: list[str] = []

        @functools.wraps(func)
        async def run(*args: Any, **kwargs: Any) -> Any:
            ctx = _run_context(args, kwargs)
            if ctx is not None and not ctx.user_submitted:
                if not schema_cache:
                    from coagent.agents.tools import Tool

                    schema_cache.append(json.dumps(Tool(func).schema()["function"],
                                                   ensure_ascii=False, indent=2))
                shown = {k: v for k, v in kwargs.items() if v is not ctx and _plain(v)}
                return ChatMessage(
                    role="assistant", type="submit", to_user=True,
                    content=text.format(schema=schema_cache[0],
                                        input=json.dumps(shown, ensure_ascii=False, indent=2)),
                )
            return await func(*args, **kwargs)

        run.__coagent_asks__ = "submit"  # type: ignore[attr-defined]
        return run

    return wrap


def _plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class PendingCall(msgspec.Struct):
    """A tool call waiting for the user: ``kind`` is ``"confirm"`` or ``"submit"``."""

    call: ToolCall
    kind: str


_YES = re.compile(
    r"^\s*(y|yes|yeah|yep|sure|ok|okay|confirm(ed)?|go( ahead)?|do it|proceed|correct|right|"
    r"是|是的|好|好的|可以|确认|确定|对|行|嗯)\s*[.!。！]*\s*$",
    re.IGNORECASE,
)


def is_affirmative(text: str) -> bool:
    """Whether ``text`` is a plain yes ("yes", "ok", "sure", "确认", ...)."""
    return _YES.match(text) is not None


def resumed_call(pending: PendingCall, reply: ChatMessage) -> ToolCall | None:
    """The call to run now that the user answered ``reply``, or ``None`` to drop it."""
    if pending.kind == "submit":
        if reply.type != "submit":
            return None
        try:
            given = json.loads(reply.content or "{}")
        except ValueError:
            return None
        if not isinstance(given, dict):
            return None
        try:
            chosen = json.loads(pending.call.arguments or "{}")
        except ValueError:
            chosen = {}
        merged = {**(chosen if isinstance(chosen, dict) else {}), **given}
        return ToolCall(id=pending.call.id + "-submitted", name=pending.call.name,
                        arguments=json.dumps(merged, ensure_ascii=False))
    return ToolCall(id=pending.call.id + "-confirmed", name=pending.call.name,
                    arguments=pending.call.arguments)
