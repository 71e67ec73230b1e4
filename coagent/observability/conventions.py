"""Attribute and span names: the OpenTelemetry GenAI conventions, and Coagent's own.

    from coagent.observability.conventions import GEN_AI_OPERATION_NAME, CHAT
    span.set_attribute(GEN_AI_OPERATION_NAME, CHAT)

The GenAI names follow the semantic conventions as of ``opentelemetry-semantic-conventions``
0.66b2 (development status: ``gen_ai.provider.name`` replaced ``gen_ai.system``, token counts
are ``gen_ai.usage.input_tokens``/``output_tokens``). They are written out here rather than
imported from that package, whose GenAI module is marked incubating and moves between
releases; a test checks them against it.
"""

from __future__ import annotations

from typing import Final

# -- GenAI operations (values of gen_ai.operation.name), which also open the span names
CHAT: Final = "chat"
INVOKE_AGENT: Final = "invoke_agent"
EXECUTE_TOOL: Final = "execute_tool"

# -- GenAI attributes
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"  # opt-in content
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"  # opt-in content
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"  # opt-in content
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # opt-in content
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
ERROR_TYPE: Final = "error.type"

# -- Coagent's own (one span per handled message, one per pattern step)
ACTOR_NAME: Final = "coagent.actor.name"
ACTOR_TYPE: Final = "coagent.actor.type"
SESSION: Final = "coagent.session"
MESSAGE_TYPE: Final = "coagent.message.type"
MESSAGE_KIND: Final = "coagent.message.kind"
MESSAGE_CONTENT: Final = "coagent.message.content"  # opt-in content
OUTCOME: Final = "coagent.outcome"
STEP: Final = "coagent.pattern.step"
PATTERN: Final = "coagent.pattern"
TRANSPORT: Final = "coagent.transport"
RESTARTS: Final = "coagent.actor.restarts"

# -- span events
EVENT_CRASHED: Final = "coagent.actor.crashed"
EVENT_RESTARTED: Final = "coagent.actor.restarted"
EVENT_TERMINATED: Final = "coagent.actor.terminated"

# -- outcomes
OK: Final = "ok"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"
