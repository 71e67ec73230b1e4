"""OpenTelemetry metrics: messages and latency per agent type, crashes and restarts, mailbox
depth and live sessions, model tokens and cost, calls in flight on NATS."""

from __future__ import annotations

import asyncio

import pytest

from coagent import Address
from coagent.agents import ChatAgent, ChatMessage
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime, NATSRuntime
from coagent.testing import FakeOpenAIServer, NATSServer
from tests.observability.conftest import Metrics
from tests.observability.test_spans import Boom, Fine, Fragile


def by(points: list, **attrs: object) -> list:
    return [p for p in points if all(p.attributes.get(k) == v for k, v in attrs.items())]


async def test_handled_messages_latency_crashes_and_restarts_are_counted_per_agent_type(
    metrics: Metrics,
) -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(AgentSpec("fragile", new(Fragile)))
        for _ in range(3):
            await runtime.ask(Address("fragile", "s"), Fine())
        with pytest.raises(Exception, match="kaput"):
            await runtime.ask(Address("fragile", "s"), Boom())
        await runtime.ask(Address("fragile", "s"), Fine())  # served by the restarted instance
        await runtime.ask(Address("fragile", "s2"), Fine())
        sessions = by(metrics.points("coagent.sessions.live"), **{"coagent.actor.name": "fragile"})
        assert [p.value for p in sessions] == [2]
        depth = by(metrics.points("coagent.mailbox.depth"), **{"coagent.actor.name": "fragile"})
        assert [p.value for p in depth] == [0]
    handled = metrics.points("coagent.messages.handled")
    assert sum(p.value for p in by(handled, **{"coagent.actor.name": "fragile", "coagent.outcome": "ok"})) == 5
    assert sum(p.value for p in by(handled, **{"coagent.outcome": "error"})) == 1
    (latency,) = by(metrics.points("coagent.message.duration"), **{"coagent.actor.name": "fragile"})
    assert latency.count == 6 and latency.sum > 0
    assert [p.value for p in metrics.points("coagent.actor.crashes")] == [1]
    assert [p.value for p in metrics.points("coagent.actor.restarts")] == [1]


async def test_model_tokens_and_cost_are_recorded_per_model(metrics: Metrics) -> None:
    async with FakeOpenAIServer(["Hello there"]) as server, LocalRuntime() as runtime:
        client = server.client(input_cost_per_token=1e-6, output_cost_per_token=2e-6)
        await runtime.register(AgentSpec("bot", new(ChatAgent, client=client)))
        reply = await runtime.ask(Address("bot", "s"), ChatMessage(role="user", content="hi"))
    tokens = metrics.points("gen_ai.client.token.usage")
    model = {"gen_ai.request.model": "openai/gpt-4o-mini", "gen_ai.provider.name": "openai"}
    (inputs,) = by(tokens, **model, **{"gen_ai.token.type": "input"})
    (outputs,) = by(tokens, **model, **{"gen_ai.token.type": "output"})
    assert inputs.sum == reply.usage.prompt_tokens > 0
    assert outputs.sum == reply.usage.completion_tokens > 0
    (cost,) = by(metrics.points("coagent.model.cost"), **{"gen_ai.request.model": "openai/gpt-4o-mini"})
    assert cost.value == pytest.approx(reply.usage.cost) and cost.value > 0
    (duration,) = metrics.points("gen_ai.client.operation.duration")
    assert duration.count == 1


async def test_calls_in_flight_are_read_from_the_nats_transport(
    metrics: Metrics, nats_server: NATSServer,
) -> None:
    from tests.gateway.agents import Echo, GSleep

    async with NATSRuntime.from_servers(nats_server.url, prefix="otelm", name="m1") as node, \
            NATSRuntime.from_servers(nats_server.url, prefix="otelm", announce=False) as client:
        await node.register(AgentSpec("echo", new(Echo)))
        call = asyncio.ensure_future(client.ask(Address("echo", "s"), GSleep(seconds=5), timeout=10))
        for _ in range(100):
            flying = {p.attributes["coagent.node"]: p.value
                      for p in metrics.points("coagent.transport.calls_in_flight")}
            if flying.get(node.name) == 1 and flying.get(client.name) == 1:
                break
            await asyncio.sleep(0.05)
        assert flying[node.name] == 1 and flying[client.name] == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
