"""The ``@handler`` decorator and the per-class handler table.

A handler's message type comes from the annotation of its message parameter;
what it returns decides the reply::

    class Echo(Actor):
        @handler
        async def ping(self, msg: Ping, ctx: Context) -> Pong:      # one reply
            return Pong(n=msg.n)

        @handler
        async def count(self, msg: Count, ctx: Context) -> AsyncIterator[Tick]:  # a stream
            for i in range(msg.n):
                yield Tick(i=i)

        @handler
        async def note(self, msg: Note, ctx: Context) -> None:      # no reply
            ...

A union annotation (``msg: Ping | Pong``) registers the handler for each type;
an annotation of ``Message`` itself catches every type without a handler of its own.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from coagent.actors.message import Message

__all__ = ["handler", "HandlerInfo", "collect_handlers"]

_MARK = "__coagent_handler__"


def handler(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an ``async def`` method (or async generator) as a message handler."""
    if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
        raise TypeError(
            f"@handler needs an 'async def' method or async generator, got {func!r}"
        )
    setattr(func, _MARK, True)
    return func


@dataclass(frozen=True, slots=True)
class HandlerInfo:
    """One handler: the function, the message class it takes, and whether it streams."""

    func: Callable[..., Any]
    msg_type: type[Message]
    streams: bool


def _message_types(func: Callable[..., Any], owner: type) -> list[type[Message]]:
    params = list(inspect.signature(func).parameters.values())
    if len(params) < 2:
        raise TypeError(
            f"handler {owner.__qualname__}.{func.__name__} must take (self, msg, ctx)"
        )
    # A NameError (forward reference not defined yet) propagates: resolved on first use.
    hints = typing.get_type_hints(func, globalns=getattr(func, "__globals__", None))
    ann = hints.get(params[1].name)
    if ann is None:
        raise TypeError(
            f"handler {owner.__qualname__}.{func.__name__}: annotate the message parameter"
            f" with a Message subclass"
        )
    origin = typing.get_origin(ann)
    candidates = typing.get_args(ann) if origin in (Union, types.UnionType) else (ann,)
    out: list[type[Message]] = []
    for cand in candidates:
        if not (isinstance(cand, type) and issubclass(cand, Message)):
            raise TypeError(
                f"handler {owner.__qualname__}.{func.__name__}: {cand!r} is not a Message subclass"
            )
        out.append(cand)
    return out


def collect_handlers(cls: type) -> dict[type[Message], HandlerInfo]:
    """Build the handler table of an actor class, subclasses overriding bases."""
    table: dict[type[Message], HandlerInfo] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attr, func in vars(klass).items():
            if attr in seen or not getattr(func, _MARK, False):
                continue
            seen.add(attr)
            # An override without @handler still replaces the base handler's body.
            body = getattr(cls, attr)
            body = getattr(body, "__func__", body)
            if not (inspect.iscoroutinefunction(body) or inspect.isasyncgenfunction(body)):
                raise TypeError(
                    f"{cls.__qualname__}.{attr} overrides a handler but is not 'async def'"
                )
            streams = inspect.isasyncgenfunction(body)
            for mtype in _message_types(func, klass):
                table.setdefault(mtype, HandlerInfo(body, mtype, streams))
    return table
