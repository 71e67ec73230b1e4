"""One hierarchy for every error Coagent raises.

Whichever runtime carried a call, the caller sees the same exception types::

    from coagent.errors import AgentCrashed, DeadlineExceeded

    try:
        reply = await runtime.ask(Address("echo", "s1"), Ping(n=1), timeout=1.0)
    except DeadlineExceeded:
        ...  # the handler was cancelled; the actor serves its next message
    except AgentCrashed as exc:
        print(exc.exc_type, exc)  # the handler raised; the actor was restarted

How an error crosses a process boundary: its class's stable ``code``, its message,
and its scalar details (``str``, ``int``, ``float``, ``bool``). ``wire_fields``
declares the details a class's constructor takes as typed keywords, and
``from_wire`` rebuilds the error from what arrived::

    code, message, details = error.to_wire()
    again = error_class(code).from_wire(message, details)   # same type, same details

A class that defines its own ``code`` registers it; a code may belong to one class
only. An unknown code decodes as ``CoagentError`` with ``code`` kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self, TypeAlias

__all__ = [
    "CoagentError",
    "InvalidAddress",
    "MessageDecodeError",
    "MessageTypeConflict",
    "UnknownMessage",
    "AgentNotFound",
    "AgentAlreadyRegistered",
    "AgentCrashed",
    "AgentStopped",
    "RestartLimitExceeded",
    "DeadlineExceeded",
    "MailboxFull",
    "TooManySessions",
    "RuntimeNotStarted",
    "NodeAlreadyRunning",
    "DuplicateChild",
    "NotHosted",
    "CallCancelled",
    "TransportError",
    "AgentDisconnected",
    "MessageTooLarge",
    "ClaimError",
    "ClaimNotSettled",
    "WireValue",
    "error_class",
    "error_types",
]

#: A detail value that crosses the wire (JSON scalars).
WireValue: TypeAlias = str | int | float | bool

_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_REGISTRY: dict[str, type[CoagentError]] = {}


def _scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, bool))


class CoagentError(Exception):
    """Base of every error raised by Coagent.

    A subclass names its condition with its own ``code``::

        class QuotaExceeded(CoagentError):
            code = "quota_exceeded"
            wire_fields = {"limit": int}

        raise QuotaExceeded("100 calls a day", limit=100)
    """

    #: Stable code used when the error crosses a process boundary (unique per class).
    code: str = "coagent_error"

    #: Details that the constructor takes as typed keywords, with their types; they are
    #: checked when the error is rebuilt from the wire (other scalar details travel as-is).
    wire_fields: ClassVar[Mapping[str, type | tuple[type, ...]]] = {}

    #: Whether a handler raising this error is a crash (the actor is replaced). Typed
    #: errors are expected failures of a call (a downstream timeout, a model error):
    #: the caller gets the error and the actor keeps its state. Set it to ``True`` on
    #: a subclass that means the actor's state can no longer be trusted.
    restarts_actor: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # crosses the wire as its nearest base with a code of its own
        code = cls.code
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise TypeError(f"{cls.__qualname__}.code must match {_CODE.pattern}, got {code!r}")
        existing = _REGISTRY.get(code)
        if existing is not None and (existing.__module__, existing.__qualname__) != (
            cls.__module__, cls.__qualname__
        ):  # the same class defined again (a module reload) just replaces itself
            raise TypeError(
                f"error code {code!r} of {cls.__module__}.{cls.__qualname__} is already used by"
                f" {existing.__module__}.{existing.__qualname__}"
            )
        _REGISTRY[code] = cls

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __reduce__(self) -> tuple[Any, ...]:  # keep details when pickled (e.g. by multiprocessing)
        return (_rebuild, (type(self), self.message, self.details))

    # ------------------------------------------------------------------ the wire

    def to_wire(self) -> tuple[str, str, dict[str, WireValue]]:
        """``(code, message, details)``: what crosses a process boundary.

        Details that are not JSON scalars (and ``None`` values) stay behind.
        """
        details = {k: v for k, v in self.details.items() if _scalar(v)}
        return self.code, self.message or str(self), details  # type: ignore[return-value]

    @classmethod
    def from_wire(cls, message: str, details: Mapping[str, Any]) -> Self:
        """Rebuild the error from :meth:`to_wire`'s message and details.

        The class's own constructor is not called (its arguments need not be the wire's):
        the error gets ``message`` and ``details``, and each declared ``wire_fields`` entry
        that arrived becomes an attribute (absent ones keep the class's default). A field
        of the wrong type is dropped: a peer in another language may send anything.
        Override this in a subclass that needs more than that.
        """
        fields = cls.wire_fields
        kept = {k: v for k, v in details.items()
                if k not in fields or v is None or _fits(v, fields[k])}
        error = cls.__new__(cls)
        CoagentError.__init__(error, message, **kept)
        for field in fields:
            if field in kept:
                setattr(error, field, kept[field])
        return error


def _fits(value: object, expected: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # bool is an int in Python, but not on the wire
        types = expected if isinstance(expected, tuple) else (expected,)
        return bool in types
    if isinstance(value, int) and not isinstance(value, bool):
        types = expected if isinstance(expected, tuple) else (expected,)
        return int in types or float in types
    return isinstance(value, expected)


def _rebuild(cls: type[CoagentError], message: str, details: dict[str, Any]) -> CoagentError:
    return cls.from_wire(message, details)


class InvalidAddress(CoagentError, ValueError):
    """An agent name or session id does not follow the address grammar."""

    code = "invalid_address"


class MessageDecodeError(CoagentError, ValueError):
    """Bytes or a header could not be decoded into the expected message type."""

    code = "message_decode_error"


class MessageTypeConflict(CoagentError, TypeError):
    """Two different message classes claim the same wire type name."""

    code = "message_type_conflict"


class UnknownMessage(CoagentError):
    """The actor has no handler for the message type it was sent."""

    code = "unknown_message"
    wire_fields = {"type": str}


class AgentNotFound(CoagentError, LookupError):
    """No agent type with that name is registered on any reachable node."""

    code = "agent_not_found"


class AgentAlreadyRegistered(CoagentError):
    """An agent type with that name is already registered on this node."""

    code = "agent_already_registered"


class AgentCrashed(CoagentError):
    """The handler raised; ``exc_type`` names the exception class."""

    code = "agent_crashed"
    wire_fields = {"exc_type": str}
    exc_type: str = ""

    def __init__(self, message: str = "", *, exc_type: str = "", **details: object) -> None:
        super().__init__(message, exc_type=exc_type, **details)
        self.exc_type = exc_type


class AgentStopped(CoagentError):
    """The actor stopped (or was stopped) before it could serve the message."""

    code = "agent_stopped"


class RestartLimitExceeded(AgentStopped):
    """The actor crashed more than ``max_restarts`` times within ``period``."""

    code = "restart_limit_exceeded"
    wire_fields = {"last_error": str}


class DeadlineExceeded(CoagentError, TimeoutError):
    """The call's deadline passed; the handler (if running) was cancelled."""

    code = "deadline_exceeded"
    wire_fields = {"address": str, "timeout": float}


class MailboxFull(CoagentError):
    """The mailbox stayed full until the send's deadline."""

    code = "mailbox_full"
    wire_fields = {"capacity": int}


class TooManySessions(CoagentError):
    """``max_sessions`` live sessions exist and none is idle enough to evict."""

    code = "too_many_sessions"
    wire_fields = {"max_sessions": int}


class RuntimeNotStarted(CoagentError):
    """The spec is not registered with a running runtime."""

    code = "runtime_not_started"


class NodeAlreadyRunning(CoagentError):
    """A node with that name is already running on the cluster (node names are unique)."""

    code = "node_already_running"


class DuplicateChild(CoagentError, ValueError):
    """An actor already has a child with that name (``ctx.spawn``)."""

    code = "duplicate_child"


class NotHosted(CoagentError):
    """An actor instance was used as hosted (``actor.cell``) before a runtime hosted it."""

    code = "actor_not_hosted"


class CallCancelled(CoagentError):
    """The call was cancelled by its caller before a reply arrived."""

    code = "call_cancelled"


class TransportError(CoagentError):
    """The transport failed: no connection to the server, or the connection was lost."""

    code = "transport_error"


class AgentDisconnected(TransportError):
    """The process serving the agent over HTTP went away while the call was in flight."""

    code = "agent_disconnected"


class MessageTooLarge(TransportError):
    """A message or reply is larger than the transport allows (NATS ``max_payload``)."""

    code = "message_too_large"


class ClaimError(TransportError):
    """A session's cluster-wide claim could not be taken, kept or released."""

    code = "claim_error"


class ClaimNotSettled(ClaimError):
    """Contention on a session's claim did not settle within the allowed attempts."""

    code = "claim_not_settled"


class StoreError(CoagentError):
    """A durable store (SQLite, JetStream) could not be opened, read or written."""

    code = "store_error"


class StoreRequired(StoreError):
    """A durable agent type was registered on a runtime without a store."""

    code = "store_required"


class StateNotStored(StoreError):
    """A durable session's state write failed: the instance holds effects the store does
    not, so it is replaced by one restored from the store (``restarts_actor``)."""

    code = "state_not_stored"
    restarts_actor = True


def error_class(code: str) -> type[CoagentError] | None:
    """The class registered for wire ``code`` (``None`` when no class defines it)."""
    return _REGISTRY.get(code)


def error_types() -> dict[str, type[CoagentError]]:
    """Map each wire ``code`` to its exception class (every class defined so far)."""
    return dict(_REGISTRY)


_REGISTRY["coagent_error"] = CoagentError
