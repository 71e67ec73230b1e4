"""Structured output: ask the model for JSON of a given type, and check what it sends.

::

    class Verdict(msgspec.Struct):
        label: Literal["spam", "ham"]
        confidence: float

    agent = new(ChatAgent, system="Classify the e-mail.", client=client, output_type=Verdict)
    reply = ChatMessage.decode(await spec.run(ChatMessage(role="user", content=mail).encode()))
    verdict = reply.parse(Verdict)

``output_type`` is a ``msgspec.Struct`` (or any type msgspec can decode: a ``Message``
subclass makes the agent reply with that message itself) or a JSON schema ``dict``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

__all__ = ["OutputSpec", "OutputInvalid"]

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


class OutputInvalid(ValueError):
    """The model's text did not validate (internal: fed back to the model)."""


class OutputSpec:
    """The expected output: its ``response_format`` for the provider and its validator."""

    __slots__ = ("_decoder", "name", "schema", "type")

    def __init__(self, output_type: Any) -> None:
        if isinstance(output_type, dict):
            self.type = None
            self.schema = output_type
            self.name = _schema_name(str(output_type.get("title") or "output"))
            self._decoder = None
            import jsonschema

            jsonschema.validators.validator_for(output_type).check_schema(output_type)
        else:
            self.type = output_type
            self.schema = _inline_schema(output_type)
            self.name = _schema_name(getattr(output_type, "__name__", "output"))
            self._decoder = msgspec.json.Decoder(output_type)

    @property
    def response_format(self) -> dict[str, Any]:
        """The OpenAI ``response_format`` asking for JSON of this schema."""
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.schema}}

    def validate(self, text: str) -> tuple[Any, str]:
        """``(value, canonical JSON text)``; raises :class:`OutputInvalid` with the reason."""
        m = _FENCE.match(text)
        if m:
            text = m.group(1)
        if self._decoder is not None:
            try:
                value = self._decoder.decode(text)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise OutputInvalid(str(exc)) from None
            return value, msgspec.json.encode(value).decode()
        import jsonschema

        try:
            value = json.loads(text)
        except ValueError as exc:
            raise OutputInvalid(f"not valid JSON: {exc}") from None
        try:
            jsonschema.validate(value, self.schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            raise OutputInvalid(f"{exc.message}" + (f" (at {where})" if where else "")) from None
        return value, json.dumps(value, ensure_ascii=False)

    def feedback(self, error: str) -> str:
        """What the model is told when its reply did not validate."""
        return (
            f"Your reply did not match the required JSON schema: {error}\n"
            f"Reply again with only a JSON value matching this schema:\n"
            f"{json.dumps(self.schema, ensure_ascii=False)}"
        )


def _schema_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
    return cleaned or "output"


def _inline_schema(tp: Any) -> dict[str, Any]:
    """msgspec's schema of ``tp`` with the top-level ``$ref`` resolved."""
    full = msgspec.json.schema(tp)
    ref = full.get("$ref")
    if not ref:
        return full
    defs = dict(full.get("$defs", {}))
    body = dict(defs.pop(ref.rsplit("/", 1)[-1]))
    if defs:
        body["$defs"] = defs
    return body
