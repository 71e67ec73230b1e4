"""Small helpers shared by the MCP and A2A modules (no SDK is imported here).

::

    describe(ValueError("bad"))        # 'ValueError: bad'
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec

from coagent.agents.messages import ChatMessage

__all__ = ["HTTPTransport", "describe", "render_tool_result", "reply_text", "version"]

_encoder = msgspec.json.Encoder()


class HTTPTransport:
    """The SDK's Streamable HTTP transport with our headers, entered once per connection."""

    def __init__(self, transport: Any, make_client: Any, url: str, headers: dict[str, str]) -> None:
        self._transport = transport
        self._make_client = make_client
        self._url = url
        self._headers = headers
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Any:
        http = await self._stack.enter_async_context(self._make_client(headers=self._headers))
        return await self._stack.enter_async_context(self._transport(self._url, http_client=http))

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception (the first of a group), for error messages."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return describe(exc.exceptions[0])
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def render_tool_result(result: Any) -> str:
    """The text a model reads for a tool result: text blocks, then placeholders for media."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {block.mime_type}, {len(block.data)} base64 characters]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif kind == "resource":
            inner = block.resource
            text = getattr(inner, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {inner.uri}]")
    if not parts and result.structured_content is not None:
        return _encoder.encode(result.structured_content).decode()
    return "\n".join(parts)


def reply_text(chunk: Any) -> str:
    """The text of one reply of an agent: a ``ChatMessage``'s content, else the message's body."""
    if isinstance(chunk, ChatMessage):
        return chunk.content
    encode = getattr(chunk, "encode", None)
    if encode is not None:
        return bytes(encode().content).decode()
    return str(chunk)


def version() -> str:
    """The installed coagent's version, for the MCP server info and the A2A cards."""
    try:
        from importlib.metadata import version as installed

        return installed("coagent")
    except Exception:  # an uninstalled checkout
        return "0"

