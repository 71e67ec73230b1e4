"""The original Coagent's attributes of an agent: ``self.channel`` and ``self.id``.

::

    class Proxy(BaseAgent):
        def __init__(self) -> None:
            super().__init__(timeout=float("inf"))     # never passivated

        @handler
        async def subscribe(self, msg: Subscribe, ctx: Context) -> None:
            await self.channel.publish(CENTER, Hello(sender=self.address).encode())
            print(self.id)                              # "proxy.<session>"

Both are non-data descriptors, so an actor that assigns its own ``self.channel`` or
``self.id`` simply keeps its own value.
"""

from __future__ import annotations

from typing import Any

from coagent.errors import NotHosted, RuntimeNotStarted

__all__ = ["ChannelAttribute", "IdAttribute"]


class ChannelAttribute:
    """``self.channel``: the channel of the runtime hosting this instance."""

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            cell = obj.cell
        except NotHosted:
            raise RuntimeNotStarted(
                f"{type(obj).__name__}.channel is available once a runtime hosts the actor"
            ) from None
        return cell.system.channel


class IdAttribute:
    """``self.id``: ``"<name>.<session>"``, the original's unique id of an agent instance."""

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        address = obj.address
        if address is None:
            raise RuntimeNotStarted(
                f"{type(obj).__name__}.id is available once a runtime hosts the actor"
            )
        return f"{address.name}.{address.session}"
