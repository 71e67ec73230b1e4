"""``idle_loop`` and ``exit_loop``: keep a node serving until a signal, and send that signal.

::

    async with NATSRuntime.from_servers() as runtime:
        await runtime.register(translator)
        await idle_loop()            # until Ctrl-C, SIGTERM, or exit_loop() from anywhere
"""

from __future__ import annotations

import asyncio
import os
import signal

__all__ = ["idle_loop", "exit_loop"]


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


def exit_loop() -> None:
    """End a running :func:`idle_loop` of this process (it sends this process SIGINT)."""
    os.kill(os.getpid(), signal.SIGINT)
