"""The actor layer: actors, handlers, messages, addresses, mailboxes. Knows no transport."""

from coagent.actors.actor import Actor
from coagent.actors.address import Address, validate_name, validate_session
from coagent.actors.context import Context
from coagent.actors.handler import handler
from coagent.actors.message import Message, RawMessage

__all__ = [
    "Actor", "Address", "Context", "Message", "RawMessage", "handler", "validate_name",
    "validate_session",
]
