"""Specs: how to make an actor, and how its supervisor treats it.

::

    echo = AgentSpec("echo", new(Echo), description="Replies with what it gets",
                     restart="permanent", max_restarts=3, period=5.0, idle_timeout=600)

    team = AgentSpec("team", new(Supervisor, children=[
        ChildSpec("a", new(A)),
        ChildSpec("b", new(B), restart="transient"),
    ], strategy="rest_for_one"))
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from coagent.actors.address import Address, new_session_id, validate_name, validate_session
from coagent.actors.message import RawMessage
from coagent.errors import RuntimeNotStarted

if TYPE_CHECKING:
    from coagent.actors.actor import Actor
    from coagent.actors.envelope import ReplyStream

__all__ = ["new", "Factory", "AgentSpec", "ChildSpec", "RestartType", "RESTART_TYPES"]

RestartType = Literal["permanent", "transient", "temporary"]
RESTART_TYPES: tuple[str, ...] = ("permanent", "transient", "temporary")

A = TypeVar("A", bound="Actor")


class Runtime(Protocol):
    """What a spec needs from the runtimes that serve it."""

    async def ask(self, address: Address, msg: Any, *, timeout: float | None = None) -> Any: ...

    def stream(self, address: Address, msg: Any, *, timeout: float | None = None) -> ReplyStream: ...


class Factory(Generic[A]):
    """A picklable recipe for fresh instances: ``new(Cls, *args, **kwargs)``."""

    __slots__ = ("args", "cls", "kwargs")

    def __init__(self, cls: type[A], *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __call__(self) -> A:
        return self.cls(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"new({self.cls.__name__}, ...)"


def new(cls: type[A], *args: Any, **kwargs: Any) -> Factory[A]:
    """Describe how to build an actor: ``new(ChatAgent, system="...", client=client)``."""
    return Factory(cls, *args, **kwargs)


def _check_restart(restart: str) -> None:
    if restart not in RESTART_TYPES:
        raise ValueError(f"restart must be one of {RESTART_TYPES}, got {restart!r}")


class AgentSpec:
    """An agent type: a name, a factory, and how its per-session actors are supervised.

    Once registered (``await runtime.register(spec)``) the spec can be called::

        reply = await spec.run(Ping(n=1).encode(), session_id="s1", timeout=5)
        async for chunk in spec.run_stream(ChatMessage(role="user", content="hi").encode()):
            ...

    Args:
        name: agent type name (dot-separated tokens; dots are namespaces).
        factory: ``new(Cls, ...)`` or any zero-argument callable returning an actor.
        description: shown by ``coagent agents`` and used by triage patterns.
        restart: ``"permanent"``/``"transient"`` restart a crashed session actor,
            ``"temporary"`` drops it (the next message starts a fresh one).
        max_restarts, period: more than ``max_restarts`` crashes of one session within
            ``period`` seconds stop it; it refuses messages for ``period`` seconds.
        backoff_min, backoff_max, backoff_jitter: restart delay, doubling per crash in the window.
        idle_timeout: seconds without mail before a session actor is passivated
            (``stopped()`` runs); ``None`` keeps it until the node stops.
        max_sessions: cap on live sessions; the least recently used idle one is evicted.
        mailbox_size: messages a session's mailbox holds before senders wait (0: unbounded).
        shutdown_timeout: seconds ``stopped()`` may take before the actor is cancelled.
        durable: store each session's state after every handled message and restore it on
            every activation (after passivation, a crash of the node, a restart of the
            process); tells are stored before they return. The actor declares its state
            with ``snapshot()``/``restore()`` (see :mod:`coagent.supervision.durable`); the
            runtime needs a store (``LocalRuntime(store="state.db")``, JetStream on NATS).
        max_deliveries: deliveries of a durable message that fail before it becomes a
            dead letter (``coagent sessions dead-letters``) and the session goes on.
    """

    def __init__(
        self,
        name: str,
        factory: Any,
        description: str = "",
        *,
        restart: RestartType = "permanent",
        max_restarts: int = 3,
        period: float = 5.0,
        backoff_min: float = 0.01,
        backoff_max: float = 1.0,
        backoff_jitter: float = 0.1,
        idle_timeout: float | None = 600.0,
        max_sessions: int | None = None,
        mailbox_size: int = 1000,
        shutdown_timeout: float = 5.0,
        durable: bool = False,
        max_deliveries: int = 5,
    ) -> None:
        self.name = validate_name(name)
        if not callable(factory):
            raise TypeError("factory must be callable, e.g. new(MyActor)")
        _check_restart(restart)
        if max_restarts < 0 or period <= 0:
            raise ValueError("max_restarts must be >= 0 and period > 0")
        if backoff_min < 0 or backoff_max < backoff_min or not 0 <= backoff_jitter <= 1:
            raise ValueError("need 0 <= backoff_min <= backoff_max and 0 <= backoff_jitter <= 1")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive or None")
        if max_sessions is not None and max_sessions < 1:
            raise ValueError("max_sessions must be >= 1 or None")
        self.factory = factory
        self.description = description
        self.restart = restart
        self.max_restarts = max_restarts
        self.period = period
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.backoff_jitter = backoff_jitter
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.mailbox_size = mailbox_size
        self.shutdown_timeout = shutdown_timeout
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be >= 1")
        cls = getattr(factory, "cls", None)
        if durable and isinstance(cls, type) and not (
            callable(getattr(cls, "snapshot", None)) and callable(getattr(cls, "restore", None))
        ):
            raise TypeError(
                f"durable agent {name!r}: {cls.__name__} must define snapshot() and restore()"
                " (see coagent.supervision.durable)"
            )
        self.durable = durable
        self.max_deliveries = max_deliveries
        # Every running runtime that serves this spec, in registration order.
        self._runtimes: list[Runtime] = []

    # ------------------------------------------------------------- runtimes

    @property
    def runtime(self) -> Runtime | None:
        """The runtime ``run``/``run_stream`` use: the most recently registered one still serving.

        One spec may be registered on several runtimes (a local one and a NATS one, say);
        stopping one of them leaves the spec usable through the others.
        """
        runtimes = self._runtimes
        return runtimes[-1] if runtimes else None

    @runtime.setter
    def runtime(self, value: Runtime | None) -> None:
        # Kept for code that assigned it directly: a runtime becomes the one in use,
        # ``None`` detaches the spec from every runtime.
        if value is None:
            self._runtimes.clear()
        else:
            self.attach_runtime(value)

    @property
    def runtimes(self) -> tuple[Runtime, ...]:
        """Every runtime serving this spec, oldest registration first."""
        return tuple(self._runtimes)

    def attach_runtime(self, runtime: Runtime) -> None:
        """Record that ``runtime`` serves this spec (runtimes call it from ``register``)."""
        with contextlib.suppress(ValueError):
            self._runtimes.remove(runtime)
        self._runtimes.append(runtime)

    def detach_runtime(self, runtime: Runtime) -> None:
        """``runtime`` no longer serves this spec (runtimes call it on deregister and stop)."""
        with contextlib.suppress(ValueError):
            self._runtimes.remove(runtime)

    @property
    def actor_class(self) -> type | None:
        return getattr(self.factory, "cls", None)

    def _address(self, session_id: str | None) -> Address:
        session = new_session_id() if session_id is None else validate_session(session_id)
        return Address._trusted(self.name, session)

    async def run(
        self, msg: RawMessage | Any, session_id: str | None = None, timeout: float | None = None
    ) -> Any:
        """Send ``msg`` to session ``session_id`` (``None``: a fresh one) and return the reply.

        A ``RawMessage`` in gives a ``RawMessage`` (or ``None``) out.
        """
        runtime = self.runtime_or_raise()
        return await runtime.ask(self._address(session_id), msg, timeout=timeout)

    def run_stream(
        self, msg: RawMessage | Any, session_id: str | None = None, timeout: float | None = None
    ) -> ReplyStream:
        """Stream the replies to ``msg``; leaving the loop early cancels the handler."""
        runtime = self.runtime_or_raise()
        return runtime.stream(self._address(session_id), msg, timeout=timeout)

    def runtime_or_raise(self) -> Runtime:
        """:attr:`runtime`, or ``RuntimeNotStarted`` when no running runtime serves this spec."""
        runtime = self.runtime
        if runtime is None:
            raise RuntimeNotStarted(f"agent {self.name!r} is not registered with a running runtime")
        return runtime

    def __repr__(self) -> str:
        return f"AgentSpec({self.name!r}, {self.factory!r})"


class ChildSpec:
    """A static child of a :class:`~coagent.supervision.Supervisor` (OTP's child spec).

    ``restart``: ``permanent`` children are always restarted, ``transient`` ones only
    after an abnormal exit, ``temporary`` ones never. ``shutdown``: seconds the child's
    ``stopped()`` may take before it is cancelled (0: cancel at once; ``None``: wait).
    """

    __slots__ = ("factory", "mailbox_size", "name", "restart", "shutdown")

    def __init__(
        self,
        name: str,
        factory: Any,
        *,
        restart: RestartType = "permanent",
        shutdown: float | None = 5.0,
        mailbox_size: int = 1000,
    ) -> None:
        self.name = validate_name(name)
        if not callable(factory):
            raise TypeError("factory must be callable, e.g. new(MyActor)")
        _check_restart(restart)
        self.factory = factory
        self.restart = restart
        self.shutdown = shutdown
        self.mailbox_size = mailbox_size

    def __repr__(self) -> str:
        return f"ChildSpec({self.name!r}, {self.factory!r}, restart={self.restart!r})"
