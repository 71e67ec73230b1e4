"""Discovery as a message: ask ``Address(name="discovery")`` which agents exist.

::

    reply = await runtime.ask(Address(name="discovery"),
                              DiscoveryQuery(namespace="team", recursive=True), timeout=5)
    for agent in reply.agents:
        print(agent.name, agent.description)

Every node serves the ``discovery`` agent (it starts with the node and is not part
of the supervision tree's agent types). It answers from the node's own
``discover()``, which on ``NATSRuntime`` lists the agent types of every node of the
cluster, so the reply is the same whichever node is asked.

Matching follows the original Coagent, token by token on the dot-separated name:
the direct children of ``namespace`` match (``namespace=""``: the top-level names);
``recursive=True`` adds deeper descendants; ``inclusive=True`` adds an agent named
exactly ``namespace``. ``detailed=True`` fills each agent's ``operations`` (its
handlers, with the JSON schemas of the message and reply) for agent types whose
class is loaded on the node that answers; for the others it stays empty.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from typing import TYPE_CHECKING, Any

import msgspec

from coagent.actors.actor import Actor
from coagent.actors.address import Address
from coagent.actors.cell import Cell, Restart
from coagent.actors.context import Context
from coagent.actors.handler import handler
from coagent.actors.message import Message

if TYPE_CHECKING:
    from coagent.runtimes.node import Node

__all__ = ["DISCOVERY_ADDRESS", "Discovery", "DiscoveryQuery", "DiscoveryReply", "Operation",
           "Schema", "install_discovery"]

#: Where discovery queries go on every runtime.
DISCOVERY_ADDRESS = Address("discovery")


class Operation(msgspec.Struct, omit_defaults=True):
    """One handler of an agent: its name, docstring, and the JSON schemas it speaks."""

    name: str
    description: str = ""
    message: dict[str, Any] = {}
    reply: dict[str, Any] = {}


class Schema(msgspec.Struct, omit_defaults=True):
    """An agent type as discovery reports it."""

    name: str
    description: str = ""
    operations: list[Operation] = []

    def __lt__(self, other: Schema) -> bool:
        return self.name < other.name


class DiscoveryQuery(Message):
    """Which agents are under ``namespace`` (see the module for the matching rules)."""

    namespace: str = ""
    recursive: bool = False
    inclusive: bool = False
    detailed: bool = False

    def matches(self, name: str) -> bool:
        """Whether agent type ``name`` answers this query."""
        if not name:
            return False
        if name == self.namespace:
            return self.inclusive
        tokens = name.split(".")
        base = self.namespace.split(".") if self.namespace else []
        if tokens[: len(base)] != base or len(tokens) <= len(base):
            return False
        return len(tokens) == len(base) + 1 or self.recursive


class DiscoveryReply(Message):
    """The agents matching a :class:`DiscoveryQuery`, sorted by name."""

    agents: list[Schema] = []


class Discovery(Actor):
    """The built-in ``discovery`` agent of a node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @handler
    async def discover(self, msg: DiscoveryQuery, ctx: Context) -> DiscoveryReply:
        """Every agent type of the cluster that matches the query."""
        found = await ctx.discover("")
        local = {spec.name: spec for spec in self.node.specs()}
        agents = []
        for name, description in found:
            if name == DISCOVERY_ADDRESS.name or not msg.matches(name):
                continue
            operations: list[Operation] = []
            if msg.detailed and name in local:
                operations = operations_of(local[name].actor_class)
            agents.append(Schema(name=name, description=description, operations=operations))
        agents.sort()
        return DiscoveryReply(agents=agents)


def operations_of(cls: type | None) -> list[Operation]:
    """The handlers of actor class ``cls`` as discovery describes them."""
    if cls is None or not hasattr(cls, "_handler_table"):
        return []
    out = []
    for msg_type, info in sorted(cls._handler_table().items(), key=lambda kv: kv[0].__name__):
        if info.msg_type is not msg_type:
            continue  # a resolution cached for a subtype (or for the catch-all), not a handler
        out.append(Operation(
            name=info.func.__name__,
            description=inspect.getdoc(info.func) or "",
            message=_schema(msg_type),
            reply=_schema(_reply_type(info.func)),
        ))
    return out


_STREAMS = (collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
            collections.abc.AsyncIterable)


def _reply_type(func: Any) -> Any:
    try:
        ret = typing.get_type_hints(func).get("return")
    except Exception:  # an unresolvable annotation only costs the reply schema
        return None
    if typing.get_origin(ret) in _STREAMS:
        args = typing.get_args(ret)
        ret = args[0] if args else None
    return ret


def _schema(tp: Any) -> dict[str, Any]:
    if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
        return {}
    try:
        return msgspec.json.schema(tp)
    except (TypeError, ValueError):
        return {}


class _Restarter:
    """Parent of the discovery cell: it answers from node state, so a fresh one is always fine."""

    def child_exited(self, cell: Cell, reason: BaseException | None) -> Restart:
        return Restart(0.0)


def install_discovery(node: Node) -> None:
    """Serve ``Address("discovery")`` on ``node`` (unless an agent type takes that name)."""
    cell = Cell(DISCOVERY_ADDRESS, lambda: Discovery(node), _Restarter(), node, mailbox_size=1000)
    node.register_cell(cell)
