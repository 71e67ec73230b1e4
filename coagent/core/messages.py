"""The original Coagent's ``coagent.core.messages``.

::

    from coagent.core.messages import ControlMessage

    class _ControlNotify(ControlMessage):       # served beside a running data handler
        notification: Notification

``ControlMessage`` and ``Cancel`` are :mod:`coagent.actors.control`'s; the rest are plain
messages kept for code that names them.
"""

from __future__ import annotations

from coagent.actors.address import Address
from coagent.actors.control import Cancel, ControlMessage
from coagent.actors.message import GenericMessage, Message

__all__ = ["Message", "GenericMessage", "ControlMessage", "Cancel", "SetReplyAgent",
           "StopIteration", "Empty", "Started", "Stopped", "ProbeAgent", "Error"]


class SetReplyAgent(Message):
    """The original's way to name where an agent sends its results."""

    address: Address


class StopIteration(Message):
    """The original's end-of-stream marker (our streams end by themselves)."""


class Empty(Message):
    """A placeholder message with no fields."""


class Started(Message):
    """The original's notice that an agent started (here: ``Actor.started()``)."""


class Stopped(Message):
    """The original's notice that an agent stopped (here: ``Actor.stopped()``)."""


class ProbeAgent(Message):
    """The original's existence probe; any agent answers a call or fails with ``AgentNotFound``."""


class Error(Message):
    """An error as a message: a stable ``code`` and a human ``message``."""

    code: str
    message: str = ""
