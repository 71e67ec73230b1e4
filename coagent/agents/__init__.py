"""LLM agents as plain actors: one instance per session, supervised like any other.

::

    from coagent.agents import StreamChatAgent, ChatMessage, ModelClient
    from coagent.core import AgentSpec, new

    translator = AgentSpec("translator", new(
        StreamChatAgent, system="Translate Chinese to English.", client=ModelClient(),
    ))

- :class:`ModelClient`: a model on litellm (imported on first use, never by this import).
- :class:`ChatAgent` / :class:`StreamChatAgent`: a conversation per session, with tools
  (:func:`tool`) and structured output (``output_type=``).
- :class:`ReActAgent`: the reason-act-observe loop, streaming its steps.
- Errors: :mod:`coagent.agents.errors`. Test doubles: :mod:`coagent.testing`.
"""

from coagent.agents.approval import Approval, ApprovalNeeded, ApprovalNotPending, approval
from coagent.agents.chat import ChatAgent, StreamChatAgent
from coagent.agents.confirm import RunContext, confirm, submit
from coagent.agents.errors import (
    BadModelRequest,
    MaxTurnsExceeded,
    ModelAuthError,
    ModelError,
    ModelNotConfigured,
    ModelTimeout,
    ModelUnavailable,
    OutputValidationError,
    RateLimited,
)
from coagent.agents.messages import (
    ChatHistory,
    ChatMessage,
    FinalAnswer,
    GetUsage,
    ThoughtStep,
    ToolCallStep,
    ToolResultStep,
    Usage,
    UsageReport,
)
from coagent.agents.model import ChatModel, ModelClient, ModelResponse, ModelStream, ToolCall
from coagent.agents.patterns import (
    Aggregate,
    AggregationResult,
    Aggregator,
    DynamicTriage,
    GroupChat,
    HandoffAgent,
    Handoffs,
    MaxRounds,
    Parallel,
    Predicate,
    Sequential,
    StepEvent,
    TextMention,
)
from coagent.agents.react import ReActAgent
from coagent.agents.tools import Tool, ToolResult, ToolSource, tool
from coagent.interop import errors as _interop_errors  # noqa: F401  (registers the MCP/A2A error codes)

__all__ = [
    # agents
    "ChatAgent",
    "StreamChatAgent",
    "ReActAgent",
    # patterns
    "Sequential",
    "Parallel",
    "Aggregator",
    "Aggregate",
    "AggregationResult",
    "DynamicTriage",
    "Handoffs",
    "HandoffAgent",
    "GroupChat",
    "MaxRounds",
    "TextMention",
    "Predicate",
    "StepEvent",
    # messages
    "ChatMessage",
    "ChatHistory",
    "GetUsage",
    "UsageReport",
    "ThoughtStep",
    "ToolCallStep",
    "ToolResultStep",
    "FinalAnswer",
    # model layer
    "ChatModel",
    "ModelClient",
    "ModelResponse",
    "ModelStream",
    "ToolCall",
    "Usage",
    # tools
    "Tool",
    "ToolResult",
    "ToolSource",
    "tool",
    "confirm",
    "submit",
    "RunContext",
    "approval",
    "Approval",
    "ApprovalNeeded",
    "ApprovalNotPending",
    # errors
    "ModelError",
    "ModelNotConfigured",
    "RateLimited",
    "ModelTimeout",
    "ModelUnavailable",
    "BadModelRequest",
    "ModelAuthError",
    "MaxTurnsExceeded",
    "OutputValidationError",
]
