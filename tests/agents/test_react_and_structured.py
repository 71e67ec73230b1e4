"""ReActAgent steps and structured output with validation retries (ScriptedModel)."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from coagent import Address, Message
from coagent.agents import (
    ChatAgent,
    ChatMessage,
    FinalAnswer,
    MaxTurnsExceeded,
    OutputValidationError,
    ReActAgent,
    StreamChatAgent,
    ThoughtStep,
    ToolCallStep,
    ToolResultStep,
)
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.agents.helpers import Stopwatch, collect


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def lookup(term: str) -> str:
    """Look a term up in the encyclopedia."""
    if term == "Atlantis":
        raise LookupError("no such place")
    return f"{term}: a city in Italy"


# ----------------------------------------------------------------------- ReAct


async def test_react_streams_thought_action_observation_answer(runtime: LocalRuntime) -> None:
    model = ScriptedModel([
        Reply("I should look up Rome.", reasoning="(thinking hard)",
              tool_calls=[tool_call("lookup", term="Rome", id="c1")]),
        "Rome is a city in Italy.",
    ])
    await runtime.register(AgentSpec("react", new(ReActAgent, system="Be factual.", client=model,
                                                  tools=[lookup])))
    steps = await collect(runtime.stream(Address("react", "s"), user("What is Rome?")))
    assert steps[:5] == [
        ThoughtStep(content="(thinking hard)", turn=1),
        ThoughtStep(content="I should look up Rome.", turn=1),
        ToolCallStep(id="c1", name="lookup", arguments='{"term":"Rome"}', turn=1),
        ToolResultStep(id="c1", name="lookup", content="Rome: a city in Italy", turn=1),
        FinalAnswer(content="Rome is a city in Italy.", usage=steps[4].usage),
    ]
    assert len(steps) == 5 and steps[4].usage.requests == 2
    system = model.requests[0].system
    assert system.startswith("Solve the task step by step") and system.endswith("Be factual.")


async def test_react_over_raw_messages_and_ask(runtime: LocalRuntime) -> None:
    model = ScriptedModel([Reply(tool_calls=[tool_call("lookup", term="Atlantis", id="c1")]),
                           "I could not find Atlantis.", "Nothing to look up."])
    spec = AgentSpec("react", new(ReActAgent, client=model, tools=[lookup]))
    await runtime.register(spec)
    raw = await collect(spec.run_stream(user("Where is Atlantis?").encode(), session_id="s"))
    assert [r.type for r in raw] == ["ToolCallStep", "ToolResultStep", "FinalAnswer"]
    result = ToolResultStep.decode(raw[1])
    assert result.is_error and result.content == "Error: LookupError: no such place"
    assert FinalAnswer.decode(raw[2]).content == "I could not find Atlantis."
    # ask gets the last step: the answer
    answer = await runtime.ask(Address("react", "s"), user("Anything else?"))
    assert answer == FinalAnswer(content="Nothing to look up.", usage=answer.usage)


async def test_react_max_turns_fails_after_the_steps_instead_of_hanging(runtime: LocalRuntime) -> None:
    model = ScriptedModel(default=lambda req: Reply(tool_calls=[tool_call("lookup", term="Rome")]))
    await runtime.register(AgentSpec("react", new(ReActAgent, client=model, tools=[lookup], max_turns=2)))
    got = []
    with Stopwatch() as watch, pytest.raises(MaxTurnsExceeded):
        async for step in runtime.stream(Address("react", "s"), user("loop")):
            got.append(type(step).__name__)
    assert watch.elapsed < 2
    assert got == ["ToolCallStep", "ToolResultStep"] * 2


# ---------------------------------------------------------- structured output


class Verdict(msgspec.Struct):
    label: Literal["spam", "ham"]
    confidence: float


class VerdictReply(Message):
    label: str
    confidence: float = 0.0


async def test_structured_output_is_validated(runtime: LocalRuntime) -> None:
    model = ScriptedModel(['{"label": "spam", "confidence": 0.9}'])
    await runtime.register(AgentSpec("clf", new(ChatAgent, system="Classify.", client=model, output_type=Verdict)))
    reply = await runtime.ask(Address("clf", "s"), user("WIN A PRIZE"))
    assert reply.parse(Verdict) == Verdict(label="spam", confidence=0.9)
    fmt = model.requests[0].response_format
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Verdict"
    assert sorted(fmt["json_schema"]["schema"]["properties"]["label"]["enum"]) == ["ham", "spam"]


async def test_invalid_output_is_fed_back_then_accepted(runtime: LocalRuntime) -> None:
    model = ScriptedModel([
        "It is spam.",                                  # not JSON
        '{"label": "eggs", "confidence": 0.5}',         # not in the enum
        '```json\n{"label": "ham", "confidence": 0.7}\n```',  # fenced, valid
    ])
    await runtime.register(AgentSpec("clf", new(ChatAgent, client=model, output_type=Verdict, output_retries=2)))
    reply = await runtime.ask(Address("clf", "s"), user("hello mum"))
    assert reply.parse(Verdict) == Verdict(label="ham", confidence=0.7)
    assert reply.content == '{"label":"ham","confidence":0.7}'
    feedback = model.requests[1].last_message
    assert feedback["role"] == "user" and "did not match the required JSON schema" in feedback["content"]
    assert "eggs" not in feedback["content"]
    assert "Invalid enum value 'eggs'" in model.requests[2].last_message["content"]
    assert reply.usage.requests == 3


async def test_output_that_never_validates_is_a_typed_error(runtime: LocalRuntime) -> None:
    model = ScriptedModel(default="still not JSON")
    await runtime.register(AgentSpec("clf", new(ChatAgent, client=model, output_type=Verdict, output_retries=1)))
    with pytest.raises(OutputValidationError, match="after 2 attempts"):
        await runtime.ask(Address("clf", "s"), user("x"))
    assert len(model.requests) == 2


async def test_message_output_type_replies_with_that_message(runtime: LocalRuntime) -> None:
    model = ScriptedModel(['{"label": "ham", "confidence": 0.2}', '{"label": "spam"}'])
    spec = AgentSpec("clf", new(ChatAgent, client=model, output_type=VerdictReply))
    await runtime.register(spec)
    assert await runtime.ask(Address("clf", "s"), user("x")) == VerdictReply(label="ham", confidence=0.2)
    raw = await spec.run(user("y").encode(), session_id="s")
    assert raw.type == "VerdictReply" and VerdictReply.decode(raw).label == "spam"


async def test_json_schema_output_type(runtime: LocalRuntime) -> None:
    schema = {"title": "City", "type": "object",
              "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["name", "population"]}
    model = ScriptedModel(['{"name": "Rome"}', '{"name": "Rome", "population": 2800000}'])
    await runtime.register(AgentSpec("geo", new(StreamChatAgent, client=model, output_type=schema)))
    chunks = await collect(runtime.stream(Address("geo", "s"), user("Rome?")))
    assert len(chunks) == 1  # validated output is sent whole, never half-streamed
    assert chunks[0].parse(dict) == {"name": "Rome", "population": 2800000}
    assert "'population' is a required property" in model.requests[1].last_message["content"]
    assert model.requests[0].response_format["json_schema"]["name"] == "City"
