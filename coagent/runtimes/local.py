"""``LocalRuntime``: every actor in this process, no serialisation anywhere."""

from __future__ import annotations

from coagent.runtimes.node import Node

__all__ = ["LocalRuntime"]


class LocalRuntime(Node):
    """The in-process runtime.

    ::

        async with LocalRuntime() as runtime:
            await runtime.register(AgentSpec("echo", new(Echo)))
            pong = await runtime.ask(Address("echo", "s1"), Ping(n=1))
            async for tick in runtime.stream(Address("echo", "s1"), Count(n=3)):
                print(tick)
            print((await runtime.tree()).to_dict())
    """

    runtime_kind = "local"
