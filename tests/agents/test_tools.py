"""Function calling: schemas from hints and docstrings, concurrency, errors, max turns."""

from __future__ import annotations

import json
from typing import Literal

import msgspec
import pytest

from coagent import Address, Context
from coagent.agents import ChatAgent, ChatMessage, MaxTurnsExceeded, StreamChatAgent, Tool, tool
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.agents.helpers import Concurrency, Stopwatch, collect


class ToolsTestPoint(msgspec.Struct):
    x: int
    y: int = 0


async def get_weather(city: str, unit: Literal["C", "F"] = "C", near: ToolsTestPoint | None = None) -> str:
    """Current weather in a city.

    Looks it up in the forecast service.

    Args:
        city: the city name, e.g. "Paris".
        unit: temperature
            unit to report in.

    Returns:
        A sentence.
    """
    return f"sunny in {city}, 21°{unit}"


def add(a: int, b: int) -> int:
    """Add two integers.

    :param a: the first term
    :param b: the second term
    """
    return a + b


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def test_schema_from_type_hints_and_docstring() -> None:
    schema = Tool(get_weather).schema()
    fn = schema["function"]
    assert schema["type"] == "function" and fn["name"] == "get_weather"
    assert fn["description"] == "Current weather in a city.\n\nLooks it up in the forecast service."
    params = fn["parameters"]
    assert params["type"] == "object" and params["required"] == ["city"]
    assert params["properties"]["city"] == {"type": "string", "description": 'the city name, e.g. "Paris".'}
    assert params["properties"]["unit"]["enum"] == ["C", "F"]
    assert params["properties"]["unit"]["default"] == "C"
    assert params["properties"]["unit"]["description"] == "temperature unit to report in."
    assert "ToolsTestPoint" in params["$defs"]
    rest = Tool(add).schema()["function"]
    assert rest["description"] == "Add two integers."
    assert rest["parameters"]["properties"]["a"] == {"type": "integer", "description": "the first term"}
    assert rest["parameters"]["required"] == ["a", "b"]


def test_tool_decorator_options_and_context_parameter() -> None:
    @tool(name="lookup", description="Find a record.")
    async def find(key: str, ctx: Context) -> str:
        return key

    t = Tool.from_function(find)
    assert t.name == "lookup" and t.description == "Find a record."
    assert list(t.parameters["properties"]) == ["key"]  # the context is not shown to the model
    with pytest.raises(ValueError):
        Tool(add, name="bad name!")


async def test_tools_run_and_results_go_back_to_the_model(runtime: LocalRuntime) -> None:
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("get_weather", city="Paris", id="c1"), tool_call("add", a=2, b=3, id="c2")]),
        "Sunny, and 5.",
    ])
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model, tools=[get_weather, add])))
    reply = await runtime.ask(Address("bot", "s"), user("weather and sum"))
    assert reply.content == "Sunny, and 5."
    assert reply.usage.requests == 2
    first, second = model.requests
    assert first.tool_names == ["get_weather", "add"]
    assert second.tool_results == [
        {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "sunny in Paris, 21°C"},
        {"role": "tool", "tool_call_id": "c2", "name": "add", "content": "5"},
    ]
    assistant = second.messages[-3]
    assert assistant["role"] == "assistant" and [c["id"] for c in assistant["tool_calls"]] == ["c1", "c2"]


@pytest.mark.parametrize(("limit", "peak"), [(8, 4), (2, 2), (1, 1)])
async def test_tool_calls_of_one_turn_run_concurrently_up_to_the_limit(
    runtime: LocalRuntime, limit: int, peak: int
) -> None:
    meter = Concurrency()

    async def slow(label: str) -> str:
        """Wait a little."""
        await meter.hold(label, 0.15)
        return label

    calls = [tool_call("slow", label=f"t{i}", id=f"c{i}") for i in range(4)]
    model = ScriptedModel([Reply(tool_calls=calls), "done"])
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model, tools=[slow],
                                                max_parallel_tools=limit)))
    with Stopwatch() as watch:
        await runtime.ask(Address("bot", "s"), user("go"))
    assert meter.peak == peak
    assert watch.elapsed < 0.15 * (4 / peak) + 0.3
    # results go back in call order, whatever order the tools finished in
    assert [m["content"] for m in model.requests[1].tool_results] == ["t0", "t1", "t2", "t3"]


async def test_a_failing_tool_returns_its_error_to_the_model(runtime: LocalRuntime) -> None:
    async def flaky(city: str) -> str:
        """Fails for unknown cities."""
        raise ValueError(f"unknown city {city!r}")

    model = ScriptedModel([
        Reply(tool_calls=[
            tool_call("flaky", city="Atlantis", id="c1"),
            tool_call("add", a="not a number", b=1, id="c2"),
            tool_call("nope", id="c3"),
            tool_call("add", "{broken json", id="c4"),
        ]),
        "Sorry, I could not find it.",
    ])
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model, tools=[flaky, add])))
    reply = await runtime.ask(Address("bot", "s"), user("weather in Atlantis"))
    assert reply.content == "Sorry, I could not find it."
    results = {m["tool_call_id"]: m["content"] for m in model.requests[1].tool_results}
    assert results["c1"] == "Error: ValueError: unknown city 'Atlantis'"
    assert results["c2"].startswith("Error: invalid arguments for add:") and "int" in results["c2"]
    assert results["c3"] == "Error: no tool named 'nope' (available: add, flaky)"
    assert results["c4"].startswith("Error: invalid arguments for add:")


async def test_tool_timeout_is_reported_to_the_model(runtime: LocalRuntime) -> None:
    async def stuck() -> str:
        """Never returns."""
        import asyncio

        await asyncio.sleep(30)
        return "never"

    model = ScriptedModel([Reply(tool_calls=[tool_call("stuck", id="c1")]), "gave up"])
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model, tools=[stuck], tool_timeout=0.1)))
    assert (await runtime.ask(Address("bot", "s"), user("go"))).content == "gave up"
    assert model.requests[1].tool_results[0]["content"] == "Error: stuck did not finish within 0.1s"


async def test_max_turns_ends_the_loop_with_a_typed_error(runtime: LocalRuntime) -> None:
    model = ScriptedModel(default=lambda req: Reply(tool_calls=[tool_call("add", a=1, b=1)]))
    await runtime.register(AgentSpec("bot", new(StreamChatAgent, client=model, tools=[add], max_turns=3)))
    addr = Address("bot", "s")
    with Stopwatch() as watch, pytest.raises(MaxTurnsExceeded, match="after 3 model calls"):
        await collect(runtime.stream(addr, user("loop forever")), timeout=5)
    assert watch.elapsed < 1 and len(model.requests) == 3
    model.script.default = "recovered"
    chunks = await collect(runtime.stream(addr, user("now answer")))
    assert "".join(c.content for c in chunks) == "recovered"


class Notebook(ChatAgent):
    """Remembers facts per session through a @tool method."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.facts: list[str] = []

    @tool
    async def remember(self, fact: str) -> str:
        """Store a fact for later.

        Args:
            fact: what to remember.
        """
        self.facts.append(fact)
        return f"{len(self.facts)} facts"


async def test_tool_methods_are_bound_to_the_session_instance(runtime: LocalRuntime) -> None:
    model = ScriptedModel(default=lambda req: (
        "noted" if req.last_message["role"] == "tool"
        else Reply(tool_calls=[tool_call("remember", fact=req.last_message["content"])])
    ))
    await runtime.register(AgentSpec("notes", new(Notebook, client=model)))
    for session, fact in (("a", "sky is blue"), ("a", "grass is green"), ("b", "water is wet")):
        await runtime.ask(Address("notes", session), user(fact))
    assert model.requests[0].tools[0]["function"]["parameters"]["properties"]["fact"]["description"] == "what to remember."
    counts = [r.tool_results[0]["content"] for r in model.requests if r.tool_results]
    assert counts == ["1 facts", "2 facts", "1 facts"]
    a = runtime.supervisor("notes").sessions["a"].instance
    assert a.facts == ["sky is blue", "grass is green"]  # type: ignore[union-attr]


async def test_tool_results_are_json_for_structures(runtime: LocalRuntime) -> None:
    def locate(city: str) -> ToolsTestPoint:
        """Coordinates of a city."""
        return ToolsTestPoint(x=len(city), y=1)

    model = ScriptedModel([Reply(tool_calls=[tool_call("locate", city="Rome", id="c")]), "ok"])
    await runtime.register(AgentSpec("bot", new(ChatAgent, client=model, tools=[locate])))
    await runtime.ask(Address("bot", "s"), user("where"))
    assert json.loads(model.requests[1].tool_results[0]["content"]) == {"x": 4, "y": 1}


def test_numpy_style_docstrings_describe_the_parameters_too() -> None:
    from coagent.agents import Tool

    def forecast(city: str, days: int = 1) -> str:
        """Weather forecast for a city.

        Parameters
        ----------
        city : str
            The city's name,
            in any language.
        days : int, optional
            How many days ahead.

        Returns
        -------
        str
            The forecast.
        """
        return "sunny"

    schema = Tool.from_function(forecast).schema()["function"]
    assert schema["description"] == "Weather forecast for a city."
    props = schema["parameters"]["properties"]
    assert props["city"]["description"] == "The city's name, in any language."
    assert props["days"]["description"] == "How many days ahead."
