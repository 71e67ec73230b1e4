"""Orchestration patterns: actors made of child actors, so they nest, stream and distribute."""

from coagent.agents.patterns.base import Pattern
from coagent.agents.patterns.group_chat import (
    GroupChat,
    MaxRounds,
    Predicate,
    Termination,
    TextMention,
)
from coagent.agents.patterns.handoffs import HandoffAgent, Handoffs
from coagent.agents.patterns.messages import (
    AgentRef,
    Aggregate,
    AggregationResult,
    Handoff,
    HandoffTurn,
    MaxHandoffsExceeded,
    NoRoute,
    ParallelResult,
    PatternError,
    StepEvent,
    StepFailed,
)
from coagent.agents.patterns.parallel import Aggregator, Parallel
from coagent.agents.patterns.sequential import Sequential
from coagent.agents.patterns.triage import DynamicTriage

__all__ = [
    "Pattern", "Sequential", "Parallel", "Aggregator", "DynamicTriage", "Handoffs", "HandoffAgent",
    "GroupChat", "Termination", "MaxRounds", "TextMention", "Predicate",
    "Aggregate", "AggregationResult", "ParallelResult", "StepEvent", "Handoff", "HandoffTurn", "AgentRef",
    "PatternError", "StepFailed", "MaxHandoffsExceeded", "NoRoute",
]
