"""What a node's calls need around them: expiry callbacks, reply decoding, address parsing.

::

    decode_reply(RawMessage(header={"type": "Pong"}, content=b'{"n": 1}'))   # Pong(n=1)
    _as_address("echo:s1")                                                 # Address("echo", "s1")
"""

from __future__ import annotations

from typing import Any

from coagent.actors.address import Address
from coagent.actors.cell import Cell
from coagent.actors.envelope import Envelope
from coagent.actors.message import RawMessage, lookup_message_type
from coagent.errors import DeadlineExceeded, InvalidAddress, UnknownMessage

__all__ = ["decode_reply"]


def _expire_ask(env: Envelope, cell: Cell, address: Address, timeout: float) -> None:
    fut = env.reply
    if not fut.done():
        fut.set_exception(DeadlineExceeded(
            f"no reply from {address} within {timeout:g}s", address=str(address), timeout=timeout,
        ))
    cell.cancel(env)


def _expire_stream(env: Envelope, cell: Cell, address: Address, timeout: float) -> None:
    env.reply.close(DeadlineExceeded(
        f"stream from {address} did not finish within {timeout:g}s",
        address=str(address), timeout=timeout,
    ))
    cell.cancel(env)


def decode_reply(raw: RawMessage) -> Any:
    """The typed message for a reply that crossed a process (``UnknownMessage`` if undefined here)."""
    type_name = raw.header.get("type", "")
    cls = lookup_message_type(type_name)
    if cls is None:
        raise UnknownMessage(
            f"reply type {type_name!r} is not defined in this process; import its module"
            " or call with a RawMessage", type=type_name,
        )
    return cls.decode_content(raw.content)


def _expire_remote_stream(opened: Any, address: Address, timeout: float) -> None:
    chan, cancel = opened
    if not chan.closed:
        chan.close(DeadlineExceeded(
            f"stream from {address} did not finish within {timeout:g}s",
            address=str(address), timeout=timeout,
        ))
        cancel()


def _as_address(address: Address | str) -> Address:
    if address.__class__ is Address:
        return address
    if isinstance(address, str):
        return Address.parse(address)
    raise InvalidAddress(f"expected an Address or 'name[:session]', got {address!r}")


def _under(namespace: str, pairs: Any) -> list[tuple[str, str]]:
    prefix = namespace.rstrip(".") + "." if namespace else ""
    seen: dict[str, str] = {}
    for name, description in pairs:
        if name.startswith(prefix) and name not in seen:
            seen[name] = description
    return sorted(seen.items())
