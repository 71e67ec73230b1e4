"""The original's agent API: class-attribute settings, ``@confirm``/``@submit`` with
``RunContext``, ``AggregationResult``, the ``chat_agent`` module path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import Field

from coagent.agents import (
    AggregationResult,
    Aggregator,
    ChatAgent,
    ChatHistory,
    ChatMessage,
    DynamicTriage,
    Parallel,
    ReActAgent,
    RunContext,
    StreamChatAgent,
    confirm,
    submit,
    tool,
)
from coagent.agents.patterns import HandoffAgent
from coagent.core import Address, AgentSpec, new
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.agents.helpers import collect

T = 10.0


# -------------------------------------------------------------- class attributes


class Configured(ChatAgent):
    system = "from the class"
    max_turns = 2


def test_a_class_attribute_is_a_setting_and_an_argument_wins_over_it() -> None:
    model = ScriptedModel()
    assert Configured(client=model).system == "from the class"
    assert Configured(client=model).max_turns == 2
    assert Configured(system="from the argument", client=model).system == "from the argument"
    assert ChatAgent(client=model).system == ""  # the default


def test_changing_the_class_attribute_before_start_reaches_new_instances() -> None:
    class Later(StreamChatAgent):
        system = "first"

    Later.system = "second"
    assert Later(client=ScriptedModel()).system == "second"


class WithModel(ChatAgent):
    client = ScriptedModel(default="scripted hello")


async def test_a_client_class_attribute_is_the_model_every_session_uses(runtime: LocalRuntime) -> None:
    spec = AgentSpec("withmodel", new(WithModel))
    await runtime.register(spec)
    assert ChatMessage.decode(await spec.run(ChatMessage(role="user", content="hi").encode())).content == "scripted hello"


def test_a_read_only_property_of_a_subclass_is_read_not_overwritten() -> None:
    class Prop(ChatAgent):
        @property
        def system(self) -> str:
            return "from a property"

    assert Prop(client=ScriptedModel()).messages()[0]["content"] == "from a property"
    with pytest.raises(TypeError, match="read-only property"):
        Prop(system="x", client=ScriptedModel())


def test_react_and_handoff_agents_take_class_attributes_too() -> None:
    class Researcher(ReActAgent):
        system = "research things"

    class Desk(HandoffAgent):
        system = "the front desk"
        max_turns = 4

    assert Researcher(client=ScriptedModel()).system.endswith("research things")
    desk = Desk(client=ScriptedModel())
    assert (desk.system, desk.max_turns) == ("the front desk", 4)


class Router(DynamicTriage):
    """Routes to its team."""

    system = "Route every request to the right specialist."
    namespace = ""


async def test_a_triage_subclass_uses_its_system_and_namespace_class_attributes(runtime: LocalRuntime) -> None:
    model = ScriptedModel([Reply(tool_calls=[tool_call("transfer_to_team_billing")])])
    billing_model = ScriptedModel(default="billing here")
    Router.namespace = "team"
    try:
        for spec in (
            AgentSpec("triage", new(Router, client=model)),
            AgentSpec("team.billing", new(ChatAgent, client=billing_model), description="Billing."),
            AgentSpec("elsewhere", new(ChatAgent, client=billing_model), description="Not the team."),
        ):
            await runtime.register(spec)
        reply = await runtime.ask(Address("triage", "s"), ChatMessage(role="user", content="my bill"))
    finally:
        Router.namespace = ""
    assert reply.content == "billing here"
    request = model.requests[0]
    assert request.system == Router.system
    assert request.tool_names == ["transfer_to_team_billing"]


async def test_triage_inclusive_also_offers_the_agent_named_like_the_namespace(runtime: LocalRuntime) -> None:
    model = ScriptedModel(["none fits"])
    for spec in (
        AgentSpec("triage", new(DynamicTriage, client=model, namespace="team", inclusive=True)),
        AgentSpec("team", new(ChatAgent, client=model)),
        AgentSpec("team.a", new(ChatAgent, client=model)),
    ):
        await runtime.register(spec)
    await runtime.ask(Address("triage", "s"), ChatMessage(role="user", content="q"))
    assert sorted(model.requests[0].tool_names) == ["transfer_to_team", "transfer_to_team_a"]


async def test_new_without_a_client_uses_the_model_environment(
    runtime: LocalRuntime, fake_openai_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai_server.add("from the environment")
    for name, value in fake_openai_server.env().items():
        monkeypatch.setenv(name, value)

    class EnvAgent(ChatAgent):
        system = "env"

    spec = AgentSpec("envagent", new(EnvAgent))
    await runtime.register(spec)
    reply = await spec.run(ChatMessage(role="user", content="hi").encode(), timeout=T)
    assert ChatMessage.decode(reply).content == "from the environment"


# ------------------------------------------------------------------ @confirm


class Hub(StreamChatAgent):
    system = "hub"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.searched: list[tuple[str, int, bool]] = []

    @tool
    @confirm("Search the hub for '{name}'? Reply yes to go ahead.")
    async def search_model(
        self,
        ctx: RunContext,
        name: str = Field(description="The name of the model"),
        limit: int = Field(default=10, description="How many"),
    ) -> str:
        """Search models by name."""
        self.searched.append((name, limit, ctx.user_confirmed))
        return f"found {name} x{limit}"


def test_a_confirm_tool_keeps_its_schema_and_hides_the_run_context() -> None:
    agent = Hub(client=ScriptedModel())
    params = agent.tools["search_model"].parameters
    assert params["required"] == ["name"]
    assert params["properties"]["name"]["description"] == "The name of the model"
    assert params["properties"]["limit"]["default"] == 10
    assert "ctx" not in params["properties"]


async def test_a_confirm_tool_asks_first_and_runs_when_the_user_confirms(runtime: LocalRuntime) -> None:
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("search_model", {"name": "llama"})]),
        lambda r: Reply(f"done: {r.tool_results[0]['content']}"),
    ])
    spec = AgentSpec("hub", new(Hub, client=model))
    await runtime.register(spec)
    first = await collect(runtime.stream(Address("hub", "u"), ChatMessage(role="user", content="find llama")))
    assert [(c.type, c.to_user, c.content) for c in first] == [
        ("confirm", True, "Search the hub for 'llama'? Reply yes to go ahead.")
    ]
    second = await runtime.ask(Address("hub", "u"), ChatMessage(role="user", content="Yes!"))
    assert second.content == "done: found llama x10"
    assert len(model.requests) == 2  # the confirmed call ran without asking the model again
    sent = model.requests[1].messages
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "tool", "assistant", "user", "assistant", "tool"]


async def test_any_other_reply_drops_the_pending_call_and_goes_to_the_model(runtime: LocalRuntime) -> None:
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("search_model", {"name": "llama"})]),
        "ok, I will not search",
    ])
    await runtime.register(AgentSpec("hub", new(Hub, client=model)))
    addr = Address("hub", "u2")
    await runtime.ask(addr, ChatMessage(role="user", content="find llama"))
    reply = await runtime.ask(addr, ChatMessage(role="user", content="no, never mind"))
    assert reply.content == "ok, I will not search"
    assert model.requests[1].last_message["content"] == "no, never mind"


async def test_a_resent_history_with_a_confirmation_runs_the_tool_when_the_model_calls_it(
    runtime: LocalRuntime,
) -> None:
    # The original's stateless clients resend the conversation; a fresh session sees it.
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("search_model", {"name": "qwen", "limit": 2})]),
        lambda r: Reply(r.tool_results[0]["content"]),
    ])
    await runtime.register(AgentSpec("hub", new(Hub, client=model)))
    history = ChatHistory(messages=[
        ChatMessage(role="user", content="find qwen"),
        ChatMessage(role="assistant", content="Search the hub for 'qwen'? Reply yes to go ahead.", type="confirm"),
        ChatMessage(role="user", content="ok"),
    ])
    reply = await runtime.ask(Address("hub", "fresh"), history)
    assert reply.content == "found qwen x2"


class Forms(ChatAgent):
    system = "forms"

    @tool
    @submit()
    async def create_repo(self, ctx: RunContext, name: str, private: bool = False) -> str:
        """Create a repository."""
        return f"created {name} private={private} submitted={ctx.user_submitted}"


async def test_a_submit_tool_sends_a_form_and_runs_with_what_the_user_submits(runtime: LocalRuntime) -> None:
    model = ScriptedModel([
        Reply(tool_calls=[tool_call("create_repo", {"name": "draft"})]),
        lambda r: Reply(r.tool_results[0]["content"]),
    ])
    await runtime.register(AgentSpec("forms", new(Forms, client=model)))
    addr = Address("forms", "u")
    form = await runtime.ask(addr, ChatMessage(role="user", content="make me a repo"))
    assert (form.type, form.to_user) == ("submit", True)
    schema = json.loads(form.content.split("```schema\n")[1].split("\n```")[0])
    assert schema["name"] == "create_repo" and "name" in schema["parameters"]["properties"]
    assert json.loads(form.content.split("```input\n")[1].split("\n```")[0]) == {"name": "draft", "private": False}
    done = await runtime.ask(addr, ChatMessage(role="user", type="submit",
                                               content='{"name": "final", "private": true}'))
    assert done.content == "created final private=True submitted=True"


# ---------------------------------------------------------- AggregationResult


async def test_the_default_aggregator_returns_an_aggregation_result_of_raw_replies(runtime: LocalRuntime) -> None:
    for name in ("customer", "investor"):
        await runtime.register(AgentSpec(name, new(ChatAgent, client=ScriptedModel(default=f"{name} says"))))
    await runtime.register(AgentSpec("aggregator", new(Aggregator)))
    parallel = AgentSpec("parallel", new(Parallel, "customer", "investor", aggregator="aggregator"))
    await runtime.register(parallel)
    result = await parallel.run(ChatMessage(role="user", content="plan").encode(), timeout=T)
    msg = AggregationResult.decode(result)
    assert [ChatMessage.decode(r).content for r in msg.results] == ["customer says", "investor says"]
    # It is still a ChatMessage to code that reads it as one.
    assert ChatMessage.decode(result).content == "customer:\ncustomer says\n\ninvestor:\ninvestor says"
    typed = await runtime.ask(Address("parallel", "t"), ChatMessage(role="user", content="plan"))
    assert isinstance(typed, ChatMessage) and isinstance(typed, AggregationResult)
