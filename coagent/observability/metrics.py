"""The OpenTelemetry instruments Coagent records, and the gauges read from running nodes.

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from coagent.observability import enable_metrics

    reader = InMemoryMetricReader()
    enable_metrics(MeterProvider(metric_readers=[reader]))
    ...                                   # run agents
    data = reader.get_metrics_data()      # coagent.messages.handled, gen_ai.client.token.usage, ...

Counters and histograms are recorded as things happen; mailbox depth, live sessions and
calls in flight are observable gauges, read from every running node (``state.nodes``)
only when a reader collects, so they cost nothing between collections.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from coagent.observability import conventions as c
from coagent.observability.switch import state

__all__ = ["create", "NAMES"]

#: Every instrument's name, as an exporter shows it.
NAMES = {
    "handled": "coagent.messages.handled",
    "duration": "coagent.message.duration",
    "crashes": "coagent.actor.crashes",
    "restarts": "coagent.actor.restarts",
    "tokens": "gen_ai.client.token.usage",
    "model_duration": "gen_ai.client.operation.duration",
    "cost": "coagent.model.cost",
    "mailbox": "coagent.mailbox.depth",
    "sessions": "coagent.sessions.live",
    "in_flight": "coagent.transport.calls_in_flight",
}


def create(meter: Any) -> dict[str, Any]:
    """The synchronous instruments by short name; registers the observable gauges."""
    from opentelemetry.metrics import CallbackOptions, Observation

    def mailbox(options: CallbackOptions) -> Iterable[Observation]:
        for node, agent in _agents():
            depth = sum(a.mailbox for s in agent.sessions for a in s.walk())
            yield Observation(depth, {c.ACTOR_NAME: agent.name, "coagent.node": node.name})

    def sessions(options: CallbackOptions) -> Iterable[Observation]:
        for node, agent in _agents():
            yield Observation(len(agent.sessions),
                              {c.ACTOR_NAME: agent.name, "coagent.node": node.name})

    def in_flight(options: CallbackOptions) -> Iterable[Observation]:
        for node in list(state.nodes):
            transport = getattr(node, "transport", None)
            count = getattr(transport, "calls_in_flight", None)
            if callable(count):
                yield Observation(int(count()), {c.TRANSPORT: type(transport).__name__,
                                                 "coagent.node": node.name})
        for gateway in list(state.gateways):
            # The HTTP side of a gateway: its /v1 and CoS callers, and the deliveries it
            # waits on from processes serving over HTTP.
            yield Observation(gateway.calls_in_flight(), {c.TRANSPORT: "HTTPGateway",
                                                          "coagent.node": gateway.runtime.name})

    meter.create_observable_gauge(NAMES["mailbox"], [mailbox], unit="{message}",
                                  description="Messages waiting in the mailboxes of an agent type")
    meter.create_observable_gauge(NAMES["sessions"], [sessions], unit="{session}",
                                  description="Live sessions of an agent type")
    meter.create_observable_gauge(NAMES["in_flight"], [in_flight], unit="{call}",
                                  description="Calls a transport carries and has not answered")
    return {
        "handled": meter.create_counter(NAMES["handled"], unit="{message}",
                                        description="Messages handled, by agent type and outcome"),
        "duration": meter.create_histogram(NAMES["duration"], unit="s",
                                           description="Time to handle one message"),
        "crashes": meter.create_counter(NAMES["crashes"], unit="{crash}",
                                        description="Handler crashes, by agent type"),
        "restarts": meter.create_counter(NAMES["restarts"], unit="{restart}",
                                         description="Actor restarts, by agent type"),
        "tokens": meter.create_histogram(NAMES["tokens"], unit="{token}",
                                         description="Tokens per model call (GenAI convention)"),
        "model_duration": meter.create_histogram(NAMES["model_duration"], unit="s",
                                                 description="Duration of a model call"),
        "cost": meter.create_counter(NAMES["cost"], unit="USD",
                                     description="Cost of model calls, by model"),
    }


def _agents() -> Iterable[tuple[Any, Any]]:
    for node in list(state.nodes):
        supervisors = getattr(node, "_types", None) or {}
        for sup in list(supervisors.values()):
            try:
                yield node, sup.snapshot()
            except Exception:  # a supervisor shutting down mid-read; the next read has it
                continue
