"""NATS subjects, derived only from validated addresses.

Under a prefix ``P`` (default ``coagent``):

=================================  ==========================================================
``P.a.<name>``                     an agent type; queue group, the first message of a session
``P.n.<node>.<name>.<session>``    a session owned by ``<node>`` (the node subscribes ``P.n.<node>.>``)
``P.ctl.<node>.ping``              liveness of one node
``P.ctl.<node>.cancel``            a caller gave up on a call that ``<node>`` serves (body: its reply subject)
``P.sys.{ping,agents,tree}``       scatter-gather to every node
``P.sys.cancel``                   a caller gave up on a queue-group call before knowing its node
=================================  ==========================================================

JetStream key-value buckets: ``P_sessions`` (claims: ``<type>.<session>`` -> owner node) and
``P_nodes`` (leases: ``<node>``, with a TTL, refreshed by the live node).

Names are dot-separated ``[A-Za-z0-9_-]`` tokens and sessions one such token, so
``P.n.<node>.team.billing.s1`` reads back unambiguously (the session is the last token).
"""

from __future__ import annotations

import re

from coagent.actors.address import Address, validate_name, validate_session
from coagent.errors import InvalidAddress

__all__ = ["Subjects", "validate_token"]

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def validate_token(value: str, what: str) -> str:
    """``value`` if it is one subject token of ``[A-Za-z0-9_-]{1,64}``, else ``InvalidAddress``."""
    if not isinstance(value, str) or _TOKEN_RE.fullmatch(value) is None:
        raise InvalidAddress(f"invalid {what} {value!r}: expected 1-64 characters of [A-Za-z0-9_-]")
    return value


class Subjects:
    """Builds and parses the subjects of one prefix and one node."""

    __slots__ = ("_node_prefix", "_node_prefix_len", "node", "prefix")

    def __init__(self, prefix: str, node: str) -> None:
        self.prefix = validate_token(prefix, "subject prefix")
        self.node = validate_token(node, "node name")
        self._node_prefix = f"{prefix}.n.{node}."
        self._node_prefix_len = len(self._node_prefix)

    @property
    def claims_bucket(self) -> str:
        return f"{self.prefix}_sessions"

    @property
    def leases_bucket(self) -> str:
        return f"{self.prefix}_nodes"

    def agent(self, name: str) -> str:
        return f"{self.prefix}.a.{validate_name(name)}"

    def session(self, node: str, address: Address) -> str:
        return f"{self.prefix}.n.{node}.{address.name}.{address.session}"

    def node_wildcard(self) -> str:
        return f"{self.prefix}.n.{self.node}.>"

    def parse_node_subject(self, subject: str) -> Address:
        """The address in ``P.n.<this node>.<name>.<session>`` (raises ``InvalidAddress``)."""
        if not subject.startswith(self._node_prefix):
            raise InvalidAddress(f"subject {subject!r} is not addressed to node {self.node}")
        name, _, session = subject[self._node_prefix_len:].rpartition(".")
        return Address(name, session)

    def ping(self, node: str) -> str:
        return f"{self.prefix}.ctl.{node}.ping"

    def cancel(self, node: str) -> str:
        return f"{self.prefix}.ctl.{node}.cancel"

    def sys(self, what: str) -> str:
        return f"{self.prefix}.sys.{what}"

    @staticmethod
    def claim_key(type_name: str, session: str) -> str:
        return f"{validate_name(type_name)}.{validate_session(session)}"
