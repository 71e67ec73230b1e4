"""The original Coagent's ``Channel``: ``publish``/``publish_multi`` over our ask, tell and stream.

::

    async with NATSRuntime.from_servers() as runtime:
        raw = await runtime.channel.publish(Address(name="server", id="s1"), Ping().encode(),
                                            request=True, timeout=5)
        async for chunk in runtime.channel.publish_multi(Address(name="stream_server"), Ping().encode()):
            print(PartialPong.decode(chunk).content)

Inside an actor the same channel is ``self.channel`` (see :class:`coagent.core.BaseAgent`).
It is a thin layer: every call is one of the runtime's own calls, with the same
deadlines, cancellation and typed errors, on every runtime. ``probe`` is accepted and
needs no network round trip here: a call to an agent that nobody serves fails with
``AgentNotFound`` by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coagent.actors.address import Address
from coagent.errors import CoagentError

if TYPE_CHECKING:
    from coagent.actors.envelope import ReplyStream
    from coagent.runtimes.node import Node

__all__ = ["Channel", "ChannelNotSupported", "OriginalRuntimeAPI"]


class ChannelNotSupported(CoagentError):
    """A part of the original's channel that has no meaning here (raw subscriptions)."""

    code = "channel_not_supported"


class Channel:
    """Publish raw (or typed) messages to addresses through one runtime."""

    __slots__ = ("runtime",)

    def __init__(self, runtime: Node) -> None:
        self.runtime = runtime

    async def publish(
        self,
        addr: Address,
        msg: Any,
        request: bool = False,
        reply: str = "",
        timeout: float | None = None,
        probe: bool = True,
    ) -> Any:
        """Send ``msg`` to ``addr``; with ``request=True`` wait for and return the reply.

        A ``RawMessage`` in gives a ``RawMessage`` (or ``None``) out. ``timeout`` is in
        seconds (``None``: the runtime's default). With ``reply="name[:session]"`` the reply
        goes to that address instead of being returned. ``probe`` is accepted for the
        original's signature and ignored.
        """
        runtime = self.runtime
        if not request:
            await runtime.tell(addr, msg, timeout=timeout)
            return None
        result = await runtime.ask(addr, msg, timeout=timeout)
        if reply:
            if result is not None:
                await runtime.tell(Address.parse(reply), result, timeout=timeout)
            return None
        return result

    def publish_multi(
        self, addr: Address, msg: Any, probe: bool = True, timeout: float | None = None
    ) -> ReplyStream:
        """Stream the replies to ``msg`` (``async for chunk in ...``); leaving early cancels.

        ``timeout`` bounds the whole stream (``None``: the runtime's default).
        """
        return self.runtime.stream(addr, msg, timeout=timeout)

    async def cancel(self, addr: Address) -> None:
        """Send :class:`~coagent.core.messages.Cancel` to ``addr``: what it does stops, then it."""
        from coagent.actors.control import Cancel

        await self.runtime.tell(addr, Cancel())

    async def connect(self) -> None:
        """Nothing to do: the runtime connects when it starts."""

    async def close(self) -> None:
        """Nothing to do: the runtime disconnects when it stops."""

    async def subscribe(self, addr: Address, handler: Any, queue: str = "") -> Any:
        """Raw subscriptions are not offered; register an agent (``AgentSpec``) instead."""
        raise ChannelNotSupported(
            "Channel.subscribe is not supported: register an AgentSpec for the address instead"
        )

    async def new_reply_topic(self) -> str:
        """Reply inboxes are internal here; ``publish(request=True)`` returns the reply."""
        raise ChannelNotSupported(
            "Channel.new_reply_topic is not supported: publish(..., request=True) returns the reply"
        )


class OriginalRuntimeAPI:
    """What every runtime offers for code written against the original Coagent.

    ``runtime.channel`` (a :class:`Channel`) and the built-in ``discovery`` agent
    (``Address(name="discovery")`` answers :class:`~coagent.core.DiscoveryQuery`).
    """

    @property
    def channel(self) -> Channel:
        """This runtime's :class:`Channel`."""
        state = self.__dict__
        chan = state.get("_coagent_channel")
        if chan is None:
            chan = state["_coagent_channel"] = Channel(self)  # type: ignore[arg-type]
        return chan

    def _install_builtins(self) -> None:
        """Serve the built-in agents of this node (called when the node starts)."""
        from coagent.runtimes.discovery import install_discovery

        install_discovery(self)  # type: ignore[arg-type]
