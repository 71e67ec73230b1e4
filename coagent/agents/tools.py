"""Function calling: tools from plain functions or ``@tool`` methods.

Why one module of about 470 lines: tools, their schema from type hints, and the parser of
three docstring styles kept by hand instead of griffe (figures above ``_parse_docstring``).

The JSON schema comes from the type hints and the docstring (Google ``Args:``,
reST ``:param x:`` or numpy ``Parameters`` style)::

    async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        \"\"\"Current weather in a city.

        Args:
            city: the city name, e.g. "Paris".
            unit: temperature unit.
        \"\"\"
        ...

    agent = new(ChatAgent, system="...", client=client, tools=[get_weather])

    class Assistant(ChatAgent):
        @tool
        async def remember(self, fact: str) -> str:
            \"\"\"Store a fact for this session.\"\"\"
            self.facts.append(fact)
            return "ok"

Arguments are validated against the hints before the call; a tool that raises,
gets bad arguments or does not exist returns the error to the model as the
tool's result, so the model can correct itself. A parameter annotated
:class:`~coagent.Context` receives the current call's context (and is not shown
to the model). ``async def`` tools run concurrently; plain ``def`` tools run
in the event loop, so keep them quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from coagent import Context
from coagent.agents.confirm import RunContext
from coagent.agents.messages import ChatMessage
from coagent.agents.model import ToolCall
from coagent.observability.switch import state as _obs

__all__ = ["Tool", "tool", "ToolResult", "ToolSource", "collect_tools", "tool_sources",
           "with_source_tools", "run_tool_calls"]

_MARK = "__coagent_tool__"
_encoder = msgspec.json.Encoder()
_cache: weakref.WeakKeyDictionary[Any, Tool] = weakref.WeakKeyDictionary()


class ToolResult(msgspec.Struct):
    """The outcome of one tool call, as it goes back to the model."""

    call: ToolCall
    content: str
    is_error: bool = False
    #: Set when the tool answered the user instead of the model (``@confirm``/``@submit``).
    user_message: ChatMessage | None = None

    def to_message(self) -> dict[str, Any]:
        """The ``tool`` message answering the call."""
        return {"role": "tool", "tool_call_id": self.call.id, "name": self.call.name,
                "content": self.content}


class Tool:
    """A callable the model may call: name, description, JSON schema of its arguments.

    Build one with :func:`tool` or ``Tool.from_function(fn)``; agents accept plain
    functions too and wrap them.
    """

    __slots__ = (
        "_args_type",
        "_context_params",
        "_is_async",
        "description",
        "fn",
        "name",
        "parameters",
    )

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 description: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ValueError(f"tool name {self.name!r} must match [A-Za-z0-9_-]{{1,64}}")
        summary, param_docs = _parse_docstring(inspect.getdoc(fn) or "")
        self.description = description if description is not None else summary
        self._is_async = inspect.iscoroutinefunction(fn)
        self._args_type, self._context_params = _arguments_struct(fn, self.name)
        self.parameters = _parameters_schema(self._args_type, {**param_docs, **_field_descriptions(fn)})

    @classmethod
    def from_function(cls, fn: Callable[..., Any] | Tool) -> Tool:
        """A tool for ``fn`` (reusing the options of a ``@tool`` decoration, if any).

        Tools are cached per function: every session of an agent shares one.
        """
        if isinstance(fn, Tool):
            return fn
        try:
            cached = _cache.get(fn)
        except TypeError:  # not weak-referenceable or not hashable
            cached = None
        if cached is not None:
            return cached
        options = getattr(fn, _MARK, None)
        made = cls(fn, **options) if isinstance(options, dict) else cls(fn)
        with contextlib.suppress(TypeError):
            _cache[fn] = made
        return made

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters,
        }}

    def bind(self, instance: Any) -> Tool:
        """This tool with ``instance`` as ``self`` (for ``@tool`` methods)."""
        bound = object.__new__(Tool)
        bound.fn = self.fn.__get__(instance, type(instance))
        bound.name = self.name
        bound.description = self.description
        bound.parameters = self.parameters
        bound._args_type = self._args_type
        bound._context_params = self._context_params
        bound._is_async = self._is_async
        return bound

    async def call(self, arguments: str | Mapping[str, Any], ctx: Context | None = None,
                   run_context: RunContext | None = None) -> Any:
        """Validate ``arguments`` (JSON text or a mapping) and call the tool.

        A parameter annotated ``Context`` gets ``ctx``; one annotated ``RunContext`` gets
        ``run_context`` (a fresh, empty one when not given).

        Raises ``msgspec.ValidationError``/``DecodeError`` for arguments that do not fit.
        """
        if isinstance(arguments, str):
            args = msgspec.json.decode(arguments or "{}", type=self._args_type)
        else:
            args = msgspec.convert(dict(arguments), type=self._args_type)
        kwargs = {f: getattr(args, f) for f in self._args_type.__struct_fields__}
        for p, wants_run_context in self._context_params:
            if wants_run_context:
                if run_context is None:
                    run_context = RunContext()
                kwargs[p] = run_context
            else:
                kwargs[p] = ctx
        result = self.fn(**kwargs)
        if self._is_async or inspect.isawaitable(result):
            result = await result
        return result

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None) -> Any:
    """Mark a function or an agent method as a tool (``@tool`` or ``@tool(name=...)``).

    On a method of a ``ChatAgent`` subclass, the agent offers it to the model
    automatically, bound to the session's instance.
    """

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        made = Tool(f, name=name, description=description)  # validate now, not at first use
        setattr(f, _MARK, {"name": name, "description": description})
        with contextlib.suppress(TypeError):
            _cache[f] = made
        return f

    if fn is not None:
        return mark(fn)
    return mark


class ToolSource:
    """Tools that arrive at run time (an MCP server's, say), given to an agent among its tools.

    Subclasses implement :meth:`list_tools`; an agent asks before each model call, so a
    source is expected to cache its list and refetch it only when it changed.
    """

    async def list_tools(self, ctx: Context | None = None) -> Sequence[Tool]:
        """The source's tools now (``ctx`` is the turn's context, for its deadline)."""
        raise NotImplementedError


def tool_sources(items: Iterable[Any]) -> list[ToolSource]:
    """The :class:`ToolSource` entries of an agent's ``tools`` argument."""
    return [item for item in items if isinstance(item, ToolSource)]


async def with_source_tools(
    own: Mapping[str, Tool], sources: Sequence[ToolSource], ctx: Context | None = None
) -> dict[str, Tool]:
    """``own`` tools plus the current tools of every source, by name.

    Raises ``ValueError`` when two tools share a name (give a source a ``prefix``).
    """
    tools = dict(own)
    for source in sources:
        for t in await source.list_tools(ctx):
            if t.name in tools:
                raise ValueError(f"two tools are named {t.name!r} (one from {source!r});"
                                 " give the source a prefix")
            tools[t.name] = t
    return tools


def collect_tools(instance: Any, extra: Iterable[Callable[..., Any] | Tool | ToolSource] = ()
                  ) -> dict[str, Tool]:
    """The tools of an agent: its ``@tool`` methods plus ``extra`` functions, by name.

    :class:`ToolSource` entries of ``extra`` are skipped (see :func:`tool_sources`).
    """
    tools: dict[str, Tool] = {}
    cls = type(instance)
    cache = cls.__dict__.get("__coagent_tools__")
    if cache is None:
        cache = []
        seen: set[str] = set()
        for klass in cls.__mro__:
            for attr, value in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                if callable(value) and getattr(value, _MARK, None) is not None:
                    cache.append(Tool.from_function(value))
        type.__setattr__(cls, "__coagent_tools__", cache)
    for t in cache:
        tools[t.name] = t.bind(instance)
    for item in extra:
        if isinstance(item, ToolSource):
            continue
        t = Tool.from_function(item)
        if t.name in tools:
            raise ValueError(f"two tools are named {t.name!r}")
        tools[t.name] = t
    return tools


async def run_tool_calls(
    calls: Sequence[ToolCall],
    tools: Mapping[str, Tool],
    *,
    limit: int = 8,
    timeout: float | None = None,
    ctx: Context | None = None,
    run_context: RunContext | None = None,
) -> list[ToolResult]:
    """Run the tool calls of one model turn, at most ``limit`` at a time; results in call order.

    Never raises for a tool's failure: it becomes an ``is_error`` result that the
    model reads. Cancelling the caller cancels every running tool.
    """
    if not calls:
        return []
    sem = asyncio.Semaphore(max(1, limit))

    async def one(call: ToolCall) -> ToolResult:
        t = tools.get(call.name)
        if t is None:
            known = ", ".join(sorted(tools)) or "none"
            return ToolResult(call, f"Error: no tool named {call.name!r} (available: {known})", True)
        async with sem:
            try:
                if timeout is None:
                    value = await t.call(call.arguments, ctx, run_context)
                else:
                    async with asyncio.timeout(timeout):
                        value = await t.call(call.arguments, ctx, run_context)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                return ToolResult(call, f"Error: invalid arguments for {call.name}: {exc}", True)
            except TimeoutError:
                if timeout is not None:
                    return ToolResult(call, f"Error: {call.name} did not finish within {timeout:g}s",
                                      True)
                return ToolResult(call, f"Error: TimeoutError in {call.name}", True)
            except Exception as exc:
                text = str(exc)
                return ToolResult(call, f"Error: {type(exc).__name__}: {text}" if text
                                  else f"Error: {type(exc).__name__}", True)
        if isinstance(value, ChatMessage) and value.to_user:
            return ToolResult(call, f"Asked the user ({value.type or 'message'}): {value.content}",
                              user_message=value)
        return ToolResult(call, _render(value))

    run = one
    if _obs.active:  # each call in an ``execute_tool`` span

        def run(call: ToolCall) -> Any:
            return _obs.hooks.traced_tool(call, tools, one)

    if len(calls) == 1:
        return [await run(calls[0])]
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run(c)) for c in calls]
    return [t.result() for t in tasks]


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return _encoder.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


# ------------------------------------------------------------------ schema


def _arguments_struct(
    fn: Callable[..., Any], name: str
) -> tuple[type[msgspec.Struct], tuple[tuple[str, bool], ...]]:
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise TypeError(f"tool {name}: cannot resolve a type hint: {exc}") from None
    fields: list[tuple[Any, ...]] = []
    context_params: list[tuple[str, bool]] = []
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls") and params[0].name not in hints:
        params = params[1:]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {name}: *args/**kwargs cannot be described to a model")
        hint = hints.get(p.name, Any)
        if hint is Context or hint is RunContext:
            context_params.append((p.name, hint is RunContext))
            continue
        default = _field_default(p.default)
        if default is inspect.Parameter.empty:
            fields.append((p.name, hint))
        else:
            fields.append((p.name, hint, default))
    # required fields must come before optional ones in a Struct; kw_only lifts that rule
    struct = msgspec.defstruct(f"{name}_arguments", fields, kw_only=True, forbid_unknown_fields=False)
    return struct, tuple(context_params)


def _field_default(default: Any) -> Any:
    """A parameter's default, seeing through pydantic's ``Field(...)`` (the original's tools
    write ``name: str = Field(description=...)``): ``empty`` when the field is required."""
    if type(default).__name__ != "FieldInfo" or not hasattr(default, "default"):
        return default
    factory = getattr(default, "default_factory", None)
    if factory is not None:
        return msgspec.field(default_factory=factory)
    value = default.default
    if type(value).__name__ == "PydanticUndefinedType" or value is Ellipsis:
        return inspect.Parameter.empty
    return value


def _field_descriptions(fn: Callable[..., Any]) -> dict[str, str]:
    out = {}
    for p in inspect.signature(fn).parameters.values():
        text = getattr(p.default, "description", None)
        if type(p.default).__name__ == "FieldInfo" and isinstance(text, str) and text:
            out[p.name] = text
    return out


def _parameters_schema(struct: type[msgspec.Struct], docs: Mapping[str, str]) -> dict[str, Any]:
    full = msgspec.json.schema(struct)
    defs = full.get("$defs", {})
    ref = full.get("$ref", "")
    key = ref.rsplit("/", 1)[-1]
    body = dict(defs.pop(key, {"type": "object", "properties": {}}))
    body.pop("title", None)
    props = {k: dict(v) for k, v in body.get("properties", {}).items()}
    for pname, text in docs.items():
        if pname in props and text:
            props[pname].setdefault("description", text)
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if body.get("required"):
        schema["required"] = body["required"]
    if defs:
        schema["$defs"] = defs
    return schema


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_GOOGLE_PARAM = re.compile(r"^\s*\**(\w+)\**\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_RULE = re.compile(r"^-{3,}$")
_NUMPY_PARAM = re.compile(r"^\s*\**(\w+)\**\s*(?::.*)?$")
_REST_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


# Hand-written rather than griffe's docstring parsers: tools are built in an agent's
# constructor, on the event loop, and griffe would block it there. Measured by
# benchmarks/agents_libraries.py (2 loaded cores): importing griffe takes 120-210 ms in a
# fresh process, and one parse of a Google docstring 36-64 us against 8 us here (4.6-8.4x).
def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (text before the first section) and per-parameter descriptions.

    Google (``Args:``), reST (``:param x:``) and numpy (``Parameters`` over dashes)
    styles are understood.
    """
    lines = doc.splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section = None
    numpy = False  # the current section is numpy style: names alone, descriptions indented
    current = None
    indent = None
    skip = -1
    for i, line in enumerate(lines):
        if i == skip:
            continue  # the dashes under a numpy section title
        stripped = line.strip()
        m = _REST_PARAM.match(line)
        if m:
            current = m.group(1)
            params[current] = m.group(2).strip()
            section = "rest"
            continue
        if stripped.startswith(":"):
            section, current = "rest-other", None
            continue
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if stripped and _NUMPY_RULE.match(following):
            section, numpy = stripped.lower(), True
            current, indent, skip = None, None, i + 1
            continue
        m = _SECTION.match(stripped)
        if m:
            section, numpy = m.group(1).lower(), False
            current, indent = None, None
            continue
        if section is None:
            summary.append(line)
            continue
        if section in ("args", "arguments", "parameters", "params", "other parameters"):
            if not stripped:
                continue
            lead = len(line) - len(line.lstrip())
            m = _NUMPY_PARAM.match(line) if numpy else _GOOGLE_PARAM.match(line)
            if m and (indent is None or lead <= indent):
                indent = lead
                current = m.group(1)
                params[current] = "" if numpy else m.group(3).strip()
            elif current is not None:
                params[current] = (params[current] + " " + stripped).strip()
        elif section == "rest" and current is not None and stripped:
            params[current] = (params[current] + " " + stripped).strip()
    text = "\n".join(summary).strip()
    text = re.sub(r"\n\s*\n", "\n\n", text)
    return text, params
