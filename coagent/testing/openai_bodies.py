"""The OpenAI chat-completions protocol's bodies, as the fake server sends them.

::

    completion_body(Reply("Hello!"), request, "chatcmpl-1")
    # {"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"message": ...}], "usage": ...}

    for chunk, pause in stream_chunks(reply, request, "chatcmpl-2"):
        ...   # each chunk is one SSE ``data:`` event; wait ``pause`` seconds before it

Streams are shaped as OpenAI sends them: a role chunk, reasoning, text pieces, each
tool call's name then its arguments in two fragments, the finish reason, and the
usage chunk when ``stream_options.include_usage`` asked for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from coagent.testing.script import ErrorReply, ModelRequest, Reply

__all__ = ["completion_body", "stream_chunks", "error_body", "usage_body", "error_reply_for"]


def completion_body(reply: Reply, request: ModelRequest, cid: str) -> dict[str, Any]:
    """The JSON body of a non-streamed answer."""
    message: dict[str, Any] = {"role": "assistant",
                               "content": reply.content if reply.content or not reply.tool_calls else None}
    if reply.tool_calls:
        message["tool_calls"] = [c.to_model() for c in reply.tool_calls]
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish(),
                     "logprobs": None}],
        "usage": usage_body(reply, request),
    }


def stream_chunks(reply: Reply, request: ModelRequest, cid: str) -> Iterator[tuple[dict[str, Any], float]]:
    """``(chunk, pause)`` for each event of a streamed answer (``[DONE]`` not included)."""
    created = int(time.time())

    def event(delta: dict[str, Any] | None, finish: str | None = None,
              usage: dict[str, Any] | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created,
                                 "model": request.model,
                                 "choices": [] if delta is None else
                                 [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            chunk["usage"] = usage
        return chunk

    yield event({"role": "assistant", "content": ""}), 0.0
    delay = reply.chunk_delay
    sent = 0
    if reply.reasoning:
        yield event({"reasoning_content": reply.reasoning}), 0.0
    for piece in reply.pieces():
        yield event({"content": piece}), delay if sent else 0.0
        sent += 1
    for index, call in enumerate(reply.tool_calls):
        yield event({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                     "function": {"name": call.name, "arguments": ""}}]}), \
            delay if sent else 0.0
        sent += 1
        args = call.arguments
        half = len(args) // 2
        for part in (args[:half], args[half:]):
            if part:
                yield event({"tool_calls": [{"index": index, "function": {"arguments": part}}]}), 0.0
    yield event({}, reply.finish()), 0.0
    if (request.params.get("stream_options") or {}).get("include_usage"):
        yield event(None, usage=usage_body(reply, request)), 0.0


def error_body(message: str, type: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI error body."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def usage_body(reply: Reply, request: ModelRequest) -> dict[str, int]:
    """The ``usage`` object of an answer."""
    usage = reply.usage_for(request)
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}


def error_reply_for(error: BaseException) -> ErrorReply:
    """The HTTP error reply for an exception a responder raised (a typed error keeps its status)."""
    from coagent.agents.errors import status_for_error

    retry_after = getattr(error, "retry_after", None)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return ErrorReply(status=status_for_error(error), message=message, retry_after=retry_after)
