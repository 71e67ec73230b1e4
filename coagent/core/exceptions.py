"""The original Coagent's error names, as aliases of our typed errors.

::

    from coagent.core.exceptions import AgentTypeNotFoundError, DeadlineExceededError

    try:
        await runtime.channel.publish(addr, msg, request=True, timeout=5)
    except AgentTypeNotFoundError:        # the same class as coagent.errors.AgentNotFound
        ...

Each alias is the very class our runtimes raise, so ``except`` clauses written for the
original catch ours; every error also has a stable ``code`` (see :mod:`coagent.errors`).
"""

from __future__ import annotations

from coagent.errors import (
    AgentCrashed,
    AgentNotFound,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    MessageDecodeError,
)

__all__ = ["BaseError", "AgentTypeNotFoundError", "SessionIDEmptyError", "MessageDecodeError",
           "InternalError", "DeadlineExceededError"]

#: The root of every error (``coagent.errors.CoagentError``).
BaseError = CoagentError
#: No agent type serves the address (``coagent.errors.AgentNotFound``).
AgentTypeNotFoundError = AgentNotFound
#: A bad session id; here any invalid address (``coagent.errors.InvalidAddress``).
SessionIDEmptyError = InvalidAddress
#: A handler raised (``coagent.errors.AgentCrashed``).
InternalError = AgentCrashed
#: The call's deadline passed (``coagent.errors.DeadlineExceeded``).
DeadlineExceededError = DeadlineExceeded
