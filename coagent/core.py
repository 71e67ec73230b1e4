"""The seed-compatible public surface.

::

    from coagent.core import AgentSpec, BaseAgent, Context, Message, handler, new, idle_loop, set_stderr_logger
"""

from __future__ import annotations

import asyncio
import signal

from coagent.actors import Actor, Address, Context, Message, RawMessage, handler
from coagent.logging import set_stderr_logger
from coagent.supervision import AgentSpec, ChildSpec, Supervisor, new

#: The seed's name for :class:`~coagent.actors.Actor`.
BaseAgent = Actor

__all__ = [
    "Actor", "BaseAgent", "Address", "AgentSpec", "ChildSpec", "Context", "Message",
    "RawMessage", "Supervisor", "handler", "idle_loop", "new", "set_stderr_logger",
]


async def idle_loop(*, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Wait until SIGINT or SIGTERM arrives (or the task is cancelled), then return.

    Use it to keep a node serving::

        async with NATSRuntime.from_servers("nats://localhost:4222") as runtime:
            await runtime.register(translator)
            await idle_loop()
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or a platform without signal handlers
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
