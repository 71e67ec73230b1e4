"""Messages: typed structs in-process, ``RawMessage`` (header + bytes) on the wire.

Define a message by subclassing :class:`Message` (a ``msgspec.Struct``)::

    class Ping(Message):
        n: int = 0

    raw = Ping(n=1).encode()          # RawMessage(header={"type": "Ping", ...}, content=b'{"n":1}')
    assert Ping.decode(raw) == Ping(n=1)

The wire type name defaults to the class name, so a client and a node that
import the same file agree on it. Name a class explicitly to namespace or
rename it::

    class Query(Message):
        __message_type__ = "billing.Query"
        text: str

Two different classes claiming one wire name in one process raise
:class:`~coagent.errors.MessageTypeConflict` when the second is defined; a
reload of the same module replaces the class silently.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, ClassVar

import msgspec

from coagent.actors.address import Address
from coagent.errors import MessageDecodeError, MessageTypeConflict

__all__ = ["Message", "RawMessage", "GenericMessage", "message_type", "lookup_message_type"]

CONTENT_TYPE_JSON = "application/json"



def _enc_hook(obj: Any) -> Any:
    # Addresses inside messages (``sender: Address``) travel as the original's {"name", "id"}.
    if obj.__class__ is Address:
        return {"name": obj.name, "id": obj.session}
    raise NotImplementedError(f"cannot encode objects of type {type(obj).__name__}")


def _dec_hook(tp: type, obj: Any) -> Any:
    if tp is Address:
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            session = obj.get("id", obj.get("session", ""))
            return Address(obj["name"], id=session if isinstance(session, str) else "")
        if isinstance(obj, str):
            return Address.parse(obj)
        raise msgspec.ValidationError(f"expected an address object, got {obj!r}")
    raise NotImplementedError(f"cannot decode objects of type {tp!r}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_registry: dict[str, type[Message]] = {}


class RawMessage(msgspec.Struct, omit_defaults=True):
    """A message as bytes: a string header (``type`` names the message type) and a body.

    This is what crosses process boundaries and what ``AgentSpec.run`` takes::

        raw = RawMessage(header={"type": "Ping"}, content=b'{"n": 3}')
    """

    header: dict[str, str] = {}
    content: bytes = b""

    @property
    def type(self) -> str:
        """The wire type name from the header (``""`` when missing)."""
        return self.header.get("type", "")

    @classmethod
    def from_json(cls, type_name: str, data: Any) -> RawMessage:
        """Build a raw message of ``type_name`` from a JSON-serialisable value."""
        content = data if isinstance(data, bytes) else _encoder.encode(data)
        return cls(header={"type": type_name, "content_type": CONTENT_TYPE_JSON}, content=content)


class _MessageMeta(msgspec.StructMeta):
    """Reads pydantic's ``Field(...)`` defaults as msgspec would mean them.

    The original Coagent's messages were pydantic models, and code written for it says
    ``content: str = Field(..., description="...")``; here that is a required field, and
    ``Field(default=x)`` / ``Field(default_factory=f)`` are its default.
    """

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                **kwargs: Any) -> Any:
        required_after_default = False
        seen_default = False
        for field in list(namespace.get("__annotations__", {})):
            if field not in namespace:
                continue
            value = namespace[field]
            if not _is_field_info(value):
                seen_default = True
                continue
            factory = getattr(value, "default_factory", None)
            default = value.default
            if factory is not None:
                namespace[field] = msgspec.field(default_factory=factory)
                seen_default = True
            elif default is Ellipsis or type(default).__name__ == "PydanticUndefinedType":
                del namespace[field]
                required_after_default = required_after_default or seen_default
            elif isinstance(default, (list, dict, set)) and default:
                namespace[field] = msgspec.field(default_factory=functools.partial(copy.deepcopy, default))
                seen_default = True
            else:
                namespace[field] = default
                seen_default = True
        if required_after_default:
            kwargs.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, namespace, **kwargs)


def _is_field_info(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "FieldInfo" and cls.__module__.startswith("pydantic")


class Message(msgspec.Struct, metaclass=_MessageMeta):
    """Base of all messages; a ``msgspec.Struct`` with a stable wire type name."""

    __message_type__: ClassVar[str] = "Message"
    __decoder__: ClassVar[msgspec.json.Decoder[Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__message_type__" not in cls.__dict__:
            cls.__message_type__ = cls.__name__
        name = cls.__message_type__
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__}.__message_type__ must be a non-empty string")
        cls.__decoder__ = None
        existing = _registry.get(name)
        if existing is not None and existing is not cls and _identity(existing) != _identity(cls):
            raise MessageTypeConflict(
                f"message type name {name!r} is claimed by both {_identity(existing)} and "
                f"{_identity(cls)}; set __message_type__ on one of them to a distinct name",
                type=name,
            )
        _registry[name] = cls

    def encode(self) -> RawMessage:
        """Serialise to a :class:`RawMessage` (JSON body)."""
        return RawMessage(
            header={"type": self.__message_type__, "content_type": CONTENT_TYPE_JSON},
            content=_encoder.encode(self),
        )

    @classmethod
    def merge_stream(cls, items: list[Any]) -> Any:
        """The single reply an ``ask`` gets from a handler that streams items of this class.

        The default is the last item; a class whose items are deltas overrides it::

            class Text(Message):
                delta: str = ""

                @classmethod
                def merge_stream(cls, items):
                    return cls(delta="".join(i.delta for i in items))
        """
        return items[-1] if items else None

    @classmethod
    def decode(cls, raw: RawMessage) -> Any:
        """Deserialise ``raw``; raise ``MessageDecodeError`` on a wrong type or bad bytes.

        A raw message of a subclass's type decodes as this class (extra fields ignored).
        """
        if raw.__class__ is not RawMessage:
            raise MessageDecodeError(
                f"{cls.__name__}.decode expects a RawMessage, got {type(raw).__name__}"
            )
        got = raw.header.get("type")
        if got is not None and got != cls.__message_type__ and not _is_subtype(got, cls):
            raise MessageDecodeError(
                f"expected message type {cls.__message_type__!r}, got {got!r}",
                expected=cls.__message_type__,
                got=got,
            )
        return cls.decode_content(raw.content)

    @classmethod
    def from_raw(cls, raw: RawMessage) -> Any:
        """The message a handler of this class receives for ``raw`` (its body decoded).

        A class that needs the whole raw form, such as :class:`GenericMessage`, overrides it.
        """
        return cls.decode_content(raw.content)

    @classmethod
    def decode_content(cls, content: bytes) -> Any:
        """Deserialise a JSON body into this class.

        An empty body is the empty object, so a type whose fields all have defaults decodes
        from it (the CLI's ``-H type:Ping`` with no ``-d``).
        """
        decoder = cls.__decoder__
        if decoder is None:
            decoder = cls.__decoder__ = msgspec.json.Decoder(cls, dec_hook=_dec_hook)
        try:
            return decoder.decode(content or b"{}")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MessageDecodeError(
                f"cannot decode {cls.__message_type__!r}: {exc}", type=cls.__message_type__
            ) from None


class GenericMessage(Message):
    """Any message, kept in its raw form: the catch-all of an actor.

    A handler annotated with ``GenericMessage`` receives every message that no other
    handler of its actor takes, including wire types this process has never heard of::

        class Echo(Actor):
            @handler
            async def anything(self, msg: GenericMessage, ctx: Context) -> GenericMessage:
                print(msg.raw.type, msg.raw.content)
                return msg                      # encodes back to the very same raw message

    ``encode()`` gives ``raw`` back unchanged.
    """

    raw: RawMessage = msgspec.field(default_factory=RawMessage)

    def encode(self) -> RawMessage:
        return self.raw

    @classmethod
    def of(cls, msg: Any) -> GenericMessage:
        """Wrap a typed message or a ``RawMessage``."""
        if msg.__class__ is cls:
            return msg
        return cls(raw=msg if msg.__class__ is RawMessage else msg.encode())

    @classmethod
    def from_raw(cls, raw: RawMessage) -> GenericMessage:
        return cls(raw=raw)

    @classmethod
    def decode(cls, raw: RawMessage) -> GenericMessage:
        return cls(raw=raw)


def _is_subtype(name: str, cls: type) -> bool:
    """Whether wire type ``name`` is a subclass of ``cls`` here: it then decodes as ``cls``
    (its extra fields ignored), so ``ChatMessage.decode`` reads an ``AggregationResult``."""
    sub = _registry.get(name)
    return sub is not None and issubclass(sub, cls)


def _identity(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def message_type(cls: type[Message]) -> str:
    """The wire type name of a message class."""
    return cls.__message_type__


def lookup_message_type(name: str) -> type[Message] | None:
    """The message class registered under wire name ``name`` in this process, if any."""
    return _registry.get(name)
