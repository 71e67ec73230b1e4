"""One hierarchy for every error Coagent raises.

Whichever runtime carried a call, the caller sees the same exception types::

    from coagent.errors import AgentCrashed, DeadlineExceeded

    try:
        reply = await runtime.ask(Address("echo", "s1"), Ping(n=1), timeout=1.0)
    except DeadlineExceeded:
        ...  # the handler was cancelled; the actor serves its next message
    except AgentCrashed as exc:
        print(exc.exc_type, exc)  # the handler raised; the actor was restarted
"""

from __future__ import annotations

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
    "CallCancelled",
    "TransportError",
    "MessageTooLarge",
]


class CoagentError(Exception):
    """Base of every error raised by Coagent."""

    #: Stable code used when the error crosses a process boundary.
    code: str = "coagent_error"

    #: Whether a handler raising this error is a crash (the actor is replaced). Typed
    #: errors are expected failures of a call (a downstream timeout, a model error):
    #: the caller gets the error and the actor keeps its state. Set it to ``True`` on
    #: a subclass that means the actor's state can no longer be trusted.
    restarts_actor: bool = False

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __reduce__(self):  # keep details when pickled (e.g. by multiprocessing)
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[CoagentError], message: str, details: dict) -> CoagentError:
    return cls(message, **details)


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


class AgentNotFound(CoagentError, LookupError):
    """No agent type with that name is registered on any reachable node."""

    code = "agent_not_found"


class AgentAlreadyRegistered(CoagentError):
    """An agent type with that name is already registered on this node."""

    code = "agent_already_registered"


class AgentCrashed(CoagentError):
    """The handler raised; ``exc_type`` names the exception class."""

    code = "agent_crashed"

    def __init__(self, message: str = "", *, exc_type: str = "", **details: object) -> None:
        super().__init__(message, exc_type=exc_type, **details)
        self.exc_type = exc_type


class AgentStopped(CoagentError):
    """The actor stopped (or was stopped) before it could serve the message."""

    code = "agent_stopped"


class RestartLimitExceeded(AgentStopped):
    """The actor crashed more than ``max_restarts`` times within ``period``."""

    code = "restart_limit_exceeded"


class DeadlineExceeded(CoagentError, TimeoutError):
    """The call's deadline passed; the handler (if running) was cancelled."""

    code = "deadline_exceeded"


class MailboxFull(CoagentError):
    """The mailbox stayed full until the send's deadline."""

    code = "mailbox_full"


class TooManySessions(CoagentError):
    """``max_sessions`` live sessions exist and none is idle enough to evict."""

    code = "too_many_sessions"


class RuntimeNotStarted(CoagentError):
    """The spec is not registered with a running runtime."""

    code = "runtime_not_started"


class CallCancelled(CoagentError):
    """The call was cancelled by its caller before a reply arrived."""

    code = "call_cancelled"


class TransportError(CoagentError):
    """The transport failed: no connection to the server, or the connection was lost."""

    code = "transport_error"


class MessageTooLarge(TransportError):
    """A message or reply is larger than the transport allows (NATS ``max_payload``)."""

    code = "message_too_large"


def error_types() -> dict[str, type[CoagentError]]:
    """Map each wire ``code`` to its exception class (used by transports)."""
    out: dict[str, type[CoagentError]] = {}
    stack: list[type[CoagentError]] = [CoagentError]
    while stack:
        cls = stack.pop()
        out.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return out
