"""``A2AAgent``: an actor that forwards each message to a remote A2A agent (the ``a2a-sdk`` client).

::

    from coagent.agents import ChatMessage, Sequential
    from coagent.core import AgentSpec, new
    from coagent.interop import A2AAgent

    reviewer = AgentSpec("reviewer", new(A2AAgent, "https://agents.example.com/a2a/reviewer",
                                         headers={"Authorization": "Bearer ..."}))
    pipeline = AgentSpec("pipeline", new(Sequential, writer, reviewer))

The URL is where the agent card is found (``{url}/.well-known/agent-card.json``); the card
says where messages go. Each session is one A2A context: the first reply's ``context_id``
is sent with every later message of the session, so the remote agent sees one
conversation. A ``ChatMessage`` (or the last message of a ``ChatHistory``) goes as a text
part; the reply is a ``ChatMessage`` with the task's text (its artifacts, else its final
status message). The call has the caller's deadline; a caller that gives up cancels the
remote task (``CancelTask``). A task that fails or is rejected raises
:class:`~coagent.interop.errors.RemoteAgentError`; an agent that cannot be reached,
:class:`~coagent.interop.errors.RemoteAgentUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from coagent import Actor, Context, handler
from coagent.agents.messages import ChatHistory, ChatMessage
from coagent.interop._common import describe
from coagent.interop.errors import (
    InteropNotInstalled,
    RemoteAgentError,
    RemoteAgentUnavailable,
)

__all__ = ["A2AAgent"]

_TERMINAL_FAILURES = {"TASK_STATE_FAILED": "failed", "TASK_STATE_REJECTED": "was rejected",
                      "TASK_STATE_CANCELED": "was cancelled"}


class A2AAgent(Actor):
    """A remote A2A agent as a local actor (one instance, and one A2A context, per session).

    Args:
        url: the agent's base URL (its card is at ``{url}/.well-known/agent-card.json``).
        headers: HTTP headers for every request (``Authorization``, ...).
        timeout: seconds a call may take when the caller gave no deadline.
        streaming: use ``SendStreamingMessage`` when the card allows it (the task's id is
            known at once, so a cancelled call can cancel the remote task).
    """

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout: float = 300.0, streaming: bool = True) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"an A2A url must be http:// or https://, got {url!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.streaming = streaming
        #: The remote agent's context of this session (set by its first reply).
        self.context_id = ""
        self._http: Any = None
        self._client: Any = None

    async def stopped(self) -> None:
        client, http = self._client, self._http
        self._client = self._http = None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        if http is not None:
            await http.aclose()

    async def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            import httpx
            from a2a.client import ClientConfig, create_client
        except ImportError:  # pragma: no cover - the dev extra installs it
            raise InteropNotInstalled("A2AAgent needs the a2a SDK: pip install 'coagent[a2a]'") from None
        self._http = httpx.AsyncClient(headers=self.headers, timeout=httpx.Timeout(30.0, read=None))
        try:
            self._client = await create_client(
                self.url, ClientConfig(httpx_client=self._http, streaming=self.streaming))
        except Exception as exc:
            await self._http.aclose()
            self._http = None
            raise RemoteAgentUnavailable(
                f"cannot read the A2A agent card of {self.url}: {describe(exc)}", url=self.url,
            ) from None
        return self._client

    @handler
    async def chat(self, msg: ChatMessage | ChatHistory, ctx: Context
                   ) -> ChatMessage | AsyncIterator[ChatMessage]:
        """Send the message to the remote agent; its answer is the reply.

        A caller that streams (``run_stream``, a streamed ``Sequential``) gets the remote
        agent's artifact chunks as ``ChatMessage`` deltas as they arrive.
        """
        if ctx.streaming and self.streaming:
            return self._deltas(msg, ctx)
        progress = _Progress()
        async with contextlib.aclosing(self._exchange(msg, ctx, progress)) as pieces:
            async for _piece in pieces:
                pass
        return ChatMessage(role="assistant", content=progress.text(), sender=ctx.address.name)

    async def _deltas(self, msg: ChatMessage | ChatHistory, ctx: Context
                      ) -> AsyncGenerator[ChatMessage, None]:
        progress = _Progress()
        sent = False
        async with contextlib.aclosing(self._exchange(msg, ctx, progress)) as pieces:
            async for piece in pieces:
                sent = True
                yield ChatMessage(role="assistant", content=piece, sender=ctx.address.name)
        if not sent:  # no artifact chunks: the answer was a message or a final status
            yield ChatMessage(role="assistant", content=progress.text(), sender=ctx.address.name)

    async def _exchange(self, msg: ChatMessage | ChatHistory, ctx: Context,
                        progress: _Progress) -> AsyncGenerator[str, None]:
        """One call: yields the text of each artifact chunk; ``progress`` holds the rest."""
        from a2a.types import a2a_pb2 as pb

        last = msg.messages[-1] if isinstance(msg, ChatHistory) and msg.messages else msg
        text = last.content if isinstance(last, ChatMessage) else ""
        client = await self._connect()
        request = pb.SendMessageRequest(message=pb.Message(
            role=pb.Role.ROLE_USER, message_id=uuid.uuid4().hex, context_id=self.context_id,
            parts=[pb.Part(text=text)],
        ))
        remaining = ctx.remaining()
        deadline = self.timeout if remaining is None else remaining
        finished = False
        try:
            async with asyncio.timeout(deadline):
                async for event in client.send_message(request):
                    piece = progress.add(event)
                    if piece:
                        yield piece
            finished = True
        except TimeoutError:
            raise RemoteAgentError(f"{self.url} did not answer within {deadline:g}s",
                                   url=self.url) from None
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            raise _client_error(exc, self.url) from None
        finally:
            if not finished:  # cancelled, timed out or closed early: the remote task need not run on
                await self._cancel_remote(client, progress.task_id)
        if progress.context_id:
            self.context_id = progress.context_id
        state = progress.state
        if state in _TERMINAL_FAILURES:
            raise RemoteAgentError(
                f"the task of {self.url} {_TERMINAL_FAILURES[state]}: {progress.status_text}".rstrip(": "),
                url=self.url, state=state,
            )

    async def _cancel_remote(self, client: Any, task_id: str) -> None:
        """Best effort, within 5 s: the caller is gone, the remote task need not run on."""
        if not task_id:
            return
        from a2a.types import a2a_pb2 as pb

        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.shield(client.cancel_task(pb.CancelTaskRequest(id=task_id)))

    def __repr__(self) -> str:
        return f"A2AAgent({self.url!r})"


class _Progress:
    """What the events of one call said: the task, its artifacts' text, its last status."""

    def __init__(self) -> None:
        self.task_id = ""
        self.context_id = ""
        self.state = ""
        self.status_text = ""
        self.message_text: str | None = None
        self.artifacts: dict[str, list[str]] = {}

    def add(self, event: Any) -> str:
        """Take in one event; the text of an artifact chunk it carried ("" otherwise)."""
        from a2a.types import a2a_pb2 as pb

        kind = event.WhichOneof("payload")
        if kind == "message":
            self.context_id = event.message.context_id or self.context_id
            self.message_text = _parts_text(event.message.parts)
        elif kind == "task":
            task = event.task
            self.task_id, self.context_id = task.id, task.context_id or self.context_id
            self._status(task.status, pb)
            if task.artifacts:
                self.artifacts = {a.artifact_id: [_parts_text(a.parts)] for a in task.artifacts}
        elif kind == "status_update":
            update = event.status_update
            self.task_id = update.task_id or self.task_id
            self.context_id = update.context_id or self.context_id
            self._status(update.status, pb)
        elif kind == "artifact_update":
            update = event.artifact_update
            self.task_id = update.task_id or self.task_id
            pieces = self.artifacts.setdefault(update.artifact.artifact_id, [])
            if not update.append:
                pieces.clear()
            piece = _parts_text(update.artifact.parts)
            pieces.append(piece)
            return piece
        return ""

    def _status(self, status: Any, pb: Any) -> None:
        self.state = pb.TaskState.Name(status.state)
        if status.HasField("message"):
            self.status_text = _parts_text(status.message.parts)

    def text(self) -> str:
        if self.message_text is not None:
            return self.message_text
        if self.artifacts:
            return "\n".join("".join(pieces) for pieces in self.artifacts.values())
        return self.status_text


def _parts_text(parts: Any) -> str:
    return "".join(p.text for p in parts if p.HasField("text"))


def _client_error(exc: Exception, url: str) -> Exception:
    import httpx

    if isinstance(exc, httpx.TransportError) or "connect" in type(exc).__name__.lower():
        return RemoteAgentUnavailable(f"cannot reach {url}: {describe(exc)}", url=url)
    return RemoteAgentError(f"{url} answered with an error: {describe(exc)}", url=url)
