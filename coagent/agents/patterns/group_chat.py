"""``GroupChat``: several agents converse until a termination condition holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from coagent.actors import Context, handler
from coagent.agents.messages import ChatHistory, ChatMessage
from coagent.agents.patterns.base import Pattern, Step
from coagent.agents.patterns.messages import PatternError

__all__ = ["GroupChat", "Termination", "MaxRounds", "TextMention", "Predicate"]


class Termination:
    """When a group chat ends; combine with ``|`` (either) and ``&`` (both)."""

    def __call__(self, transcript: list[ChatMessage], rounds: int) -> bool:
        raise NotImplementedError

    def __or__(self, other: Termination) -> Termination:
        return Predicate(lambda t, r: self(t, r) or other(t, r))

    def __and__(self, other: Termination) -> Termination:
        return Predicate(lambda t, r: self(t, r) and other(t, r))


class MaxRounds(Termination):
    """Stop after ``n`` agent turns."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("MaxRounds needs n >= 1")
        self.n = n

    def __call__(self, transcript: list[ChatMessage], rounds: int) -> bool:
        return rounds >= self.n


class TextMention(Termination):
    """Stop when the last message mentions ``text`` (e.g. ``"TERMINATE"``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, transcript: list[ChatMessage], rounds: int) -> bool:
        return bool(transcript) and self.text in transcript[-1].content


class Predicate(Termination):
    """Stop when ``fn(transcript, rounds)`` is true."""

    def __init__(self, fn: Callable[[list[ChatMessage], int], bool]) -> None:
        self.fn = fn

    def __call__(self, transcript: list[ChatMessage], rounds: int) -> bool:
        return bool(self.fn(transcript, rounds))


Selector = str | Callable[[list[ChatMessage], list[str]], str]


class GroupChat(Pattern):
    """Agents take turns on one shared transcript.

    ::

        chat = AgentSpec("review", new(
            GroupChat, "writer", "critic",
            selector="round_robin",              # or "llm" (with client=...), or fn(transcript, names) -> name
            termination=TextMention("APPROVED") | MaxRounds(6),
        ))

    Each speaker gets the transcript as a ``ChatHistory`` (other agents' turns as user
    messages named after their speaker) and answers with a ``ChatMessage``. A streaming
    caller gets every turn (``sender`` names the speaker); an asking caller gets the last.
    """

    def __init__(self, *agents: Step, selector: Selector = "round_robin", client: Any = None,
                 termination: Termination | None = None, max_rounds: int = 20, **options: Any) -> None:
        if len(agents) < 1:
            raise ValueError("GroupChat needs agents")
        super().__init__(list(agents), **options)
        if selector == "llm" and client is None:
            from coagent.agents.model import ModelClient

            client = ModelClient()
        if isinstance(selector, str) and selector not in ("round_robin", "llm"):
            raise ValueError("selector is 'round_robin', 'llm' or a function")
        self.selector = selector
        self.client = client
        self.termination = termination or MaxRounds(len(self.step_names))
        self.max_rounds = max_rounds  # a hard stop whatever the termination says
        self.transcript: list[ChatMessage] = []
        self._next = 0

    def snapshot(self) -> Any:
        return {"transcript": self.transcript, "next": self._next}

    def restore(self, data: Any) -> None:
        self.transcript = msgspec.convert(data.get("transcript", []), list[ChatMessage])
        self._next = int(data.get("next", 0))

    async def select(self, ctx: Context) -> str:
        names = self.step_names
        if self.selector == "round_robin":
            name = names[self._next % len(names)]
            self._next += 1
            return name
        if callable(self.selector):
            name = self.selector(list(self.transcript), list(names))
        else:
            name = await self._ask_model(ctx)
        if name not in names:
            raise PatternError(f"the selector chose {name!r}, not one of {names}")
        return name

    async def _ask_model(self, ctx: Context) -> str:
        names = self.step_names
        lines = "\n".join(f"{m.sender or m.role}: {m.content}" for m in self.transcript)
        prompt = (
            f"Participants: {', '.join(names)}.\nConversation:\n{lines}\n\n"
            "Who should speak next? Answer with the participant's name only."
        )
        response = await self.client.complete([{"role": "user", "content": prompt}], timeout=ctx.remaining())
        answer = response.content.strip()
        for name in names:
            if answer == name:
                return name
        for name in names:
            if name in answer:
                return name
        raise PatternError(f"the model chose no participant: {answer!r}")

    def _view(self, speaker: str) -> ChatHistory:
        view = []
        for m in self.transcript:
            if m.sender == speaker:
                view.append(ChatMessage(role="assistant", content=m.content))
            else:
                view.append(ChatMessage(role="user", content=m.content, name=_safe_name(m.sender) or None))
        return ChatHistory(messages=view)

    @handler
    async def chat(self, msg: ChatMessage | ChatHistory, ctx: Context) -> Any:
        if isinstance(msg, ChatHistory):
            self.transcript = list(msg.messages)
        else:
            self.transcript.append(msg)
        turns = self._turns(ctx)
        if ctx.streaming:
            return turns
        last = None
        async for reply in turns:
            last = reply
        return last

    async def _turns(self, ctx: Context) -> AsyncIterator[ChatMessage]:
        rounds = 0
        while rounds < self.max_rounds:
            speaker = await self.select(ctx)
            reply = await self.ask_step(speaker, self._view(speaker), ctx)
            content = reply.content if isinstance(reply, ChatMessage) else str(reply)
            turn = ChatMessage(role="assistant", content=content, sender=speaker)
            self.transcript.append(turn)
            rounds += 1
            yield turn
            if self.termination(self.transcript, rounds):
                return


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
