"""The agents of the pattern tests over NATS, spread over node processes.

Loaded by ``coagent node tests/pattern_agents.py:node_one`` (and ``:node_two``,
``:node_three``) in the node processes of ``tests/test_patterns_nats.py``. Every
pattern has children on the *other* node, so each step crosses NATS:

=================  ===========================================  ==========================
pattern            lives on                                     its children live on
=================  ===========================================  ==========================
chain, chain_ev    one                                          a: one; b, c: two
duo                two                                          a: one; c: two
both, partial      one                                          investor, crashy, slow: two
strict, no_agg,    two                                          customer, aggregator: one
llm_agg                                                         summarizer: two
wide               one                                          w0-w2: one; w3, w4: two
triage             one                                          team.billing: one and two;
                                                                team.account: two;
                                                                team.tech: three (later)
support, loop      one                                          inline (its own children)
desk               two                                          front: one; refunds: two
bounce             one                                          ping: one; pong: two
review, picky      two                                          writer: one; critic: two
short              one                                          writer: one; critic: two
pipe               two                                          inline (its own children)
nest_triage        one  -> nest.fan (two) -> fan (one) -> ab (two) -> a (one), b (two); c (two)
slow_chain,        one                                          slow: two
slow_fan
=================  ===========================================  ==========================

Only ``coagent.agents.ChatMessage`` (and the patterns' own messages) cross the wire:
this module defines no ``Message`` subclass, so importing it beside ``tests.kit`` or
``tests.cluster_agents`` cannot clash.
"""

from __future__ import annotations

import asyncio
import os

from coagent import Actor, Context, handler
from coagent.agents import ChatAgent, ChatMessage, StreamChatAgent
from coagent.agents.patterns import (
    Aggregator,
    DynamicTriage,
    GroupChat,
    HandoffAgent,
    Handoffs,
    MaxRounds,
    Parallel,
    Sequential,
    TextMention,
)
from coagent.core import AgentSpec, new
from coagent.testing import Reply, ScriptedModel, tool_call
from tests.pattern_models import echo_model, group_model, handoff_model, triage_model

NODE = os.environ.get("COAGENT_NODE", "")


# ----------------------------------------------------------------- models


ECHO = echo_model()
TRIAGE = triage_model()
HANDOFF = handoff_model()
GROUP = group_model()
SLOW_MODEL = ScriptedModel(default=lambda r: Reply(f"{r.system}", delay=0.3))


# ----------------------------------------------------------------- actors


class Crashy(Actor):
    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        raise RuntimeError("branch exploded")


#: What the ``slow`` agents of this process did: started, cancelled, still running.
SLOW_CALLS = {"started": 0, "cancelled": 0, "running": 0}


class Slow(Actor):
    """Takes 30 s to answer; counts how its calls end (``slow_probe`` reports them)."""

    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        SLOW_CALLS["started"] += 1
        SLOW_CALLS["running"] += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            SLOW_CALLS["cancelled"] += 1
            raise
        finally:
            SLOW_CALLS["running"] -= 1
        return ChatMessage(role="assistant", content="late")


class SlowProbe(Actor):
    """Answers ``started=.. cancelled=.. running=..`` for the ``slow`` agents of this node."""

    @handler
    async def chat(self, msg: ChatMessage, ctx: Context) -> ChatMessage:
        text = " ".join(f"{k}={v}" for k, v in SLOW_CALLS.items())
        return ChatMessage(role="assistant", content=text, sender=NODE)


def chat_agent(name: str, system: str, client: ScriptedModel = ECHO, **kw) -> AgentSpec:
    return AgentSpec(name, new(ChatAgent, system=system, client=client), **kw)


def stream_agent(name: str, system: str, client: ScriptedModel = ECHO, **kw) -> AgentSpec:
    return AgentSpec(name, new(StreamChatAgent, system=system, client=client), **kw)


# ------------------------------------------------------------- node one

node_one = [
    # Sequential
    chat_agent("a", "A"),
    AgentSpec("chain", new(Sequential, "a", "b", "c")),
    AgentSpec("chain_events", new(Sequential, "a", "b", "c", events=True)),
    # Parallel
    chat_agent("customer", "customer"),
    AgentSpec("aggregator", new(Aggregator)),
    AgentSpec("both", new(Parallel, "customer", "investor", aggregator="aggregator")),
    AgentSpec("partial", new(Parallel, "customer", "crashy", "slow", aggregator="aggregator",
                             timeout=0.3, on_failure="partial")),
    *[chat_agent(f"w{i}", f"w{i}", SLOW_MODEL) for i in range(3)],
    AgentSpec("wide", new(Parallel, *[f"w{i}" for i in range(5)])),
    # DynamicTriage
    stream_agent("team.billing", "Billing Support Response", TRIAGE, description="billing questions"),
    AgentSpec("triage", new(DynamicTriage, system="You are a triage agent.", client=TRIAGE, namespace="team")),
    AgentSpec("lonely", new(DynamicTriage, client=TRIAGE, namespace="nobody")),
    # Handoffs
    AgentSpec("support", new(
        Handoffs,
        AgentSpec("front", new(HandoffAgent, system="front", client=HANDOFF), description="first contact"),
        AgentSpec("refunds", new(HandoffAgent, system="refunds", client=HANDOFF), description="refunds"),
    )),
    AgentSpec("loop", new(
        Handoffs,
        AgentSpec("ping", new(HandoffAgent, system="ping", client=HANDOFF)),
        AgentSpec("pong", new(HandoffAgent, system="pong", client=HANDOFF)),
        max_handoffs=3,
    )),
    AgentSpec("front", new(HandoffAgent, system="front", client=HANDOFF), description="first contact"),
    AgentSpec("ping", new(HandoffAgent, system="ping", client=HANDOFF)),
    AgentSpec("bounce", new(Handoffs, "ping", "pong", max_handoffs=3)),
    # GroupChat
    chat_agent("writer", "writer", GROUP),
    AgentSpec("short", new(GroupChat, "writer", "critic", termination=MaxRounds(3))),
    # Nesting
    AgentSpec("fan", new(Parallel, "ab", "c")),
    AgentSpec("nest_triage", new(DynamicTriage, client=ScriptedModel(
        default=Reply(tool_calls=[tool_call("transfer_to_nest_fan")])), namespace="nest")),
    # Deadlines
    AgentSpec("slow_chain", new(Sequential, "slow", "slow")),
    AgentSpec("slow_fan", new(Parallel, "slow", "slow")),
]

# ------------------------------------------------------------- node two

node_two = [
    # Sequential
    chat_agent("b", "B"),
    stream_agent("c", "C"),
    AgentSpec("duo", new(Sequential, "a", "c")),
    # Inline steps
    AgentSpec("pipe", new(
        Sequential,
        chat_agent("first", "1"),
        chat_agent("second", "2"),
    )),
    # Parallel
    chat_agent("investor", "investor"),
    AgentSpec("crashy", new(Crashy)),
    AgentSpec("slow", new(Slow)),
    AgentSpec("slow_probe", new(SlowProbe)),
    stream_agent("summarizer", "sum"),
    AgentSpec("strict", new(Parallel, "customer", "crashy", aggregator="aggregator")),
    AgentSpec("llm_agg", new(Parallel, "customer", "investor", aggregator="summarizer")),
    AgentSpec("no_agg", new(Parallel, "customer", "investor")),
    *[chat_agent(f"w{i}", f"w{i}", SLOW_MODEL) for i in range(3, 5)],
    # DynamicTriage: team.billing is served by both nodes, team.account only here
    stream_agent("team.billing", "Billing Support Response", TRIAGE, description="billing questions"),
    stream_agent("team.account", "Account Support Response", TRIAGE, description="account security"),
    # Handoffs
    AgentSpec("refunds", new(HandoffAgent, system="refunds", client=HANDOFF), description="refunds"),
    AgentSpec("pong", new(HandoffAgent, system="pong", client=HANDOFF)),
    AgentSpec("desk", new(Handoffs, "front", "refunds")),
    # GroupChat
    chat_agent("critic", "critic", GROUP),
    AgentSpec("review", new(GroupChat, "writer", "critic", termination=TextMention("APPROVED") | MaxRounds(10))),
    AgentSpec("picky", new(GroupChat, "writer", "critic", selector=lambda t, names: "critic",
                           termination=MaxRounds(2))),
    # Nesting
    AgentSpec("ab", new(Sequential, "a", "b")),
    AgentSpec("nest.fan", new(Sequential, "fan", "c"), description="everything"),
]

# ------------------------------------------------ node three (started later)

node_three = [
    chat_agent("team.tech", "Tech", TRIAGE, description="hardware"),
]
