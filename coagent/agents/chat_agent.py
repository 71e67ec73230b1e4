"""The original Coagent's module path for its chat agents and their helpers.

::

    from coagent.agents.chat_agent import ChatAgent, ChatHistory, ChatMessage, RunContext, confirm, submit
"""

from coagent.agents.chat import ChatAgent, StreamChatAgent
from coagent.agents.confirm import RunContext, confirm, submit
from coagent.agents.messages import ChatHistory, ChatMessage
from coagent.agents.tools import tool

__all__ = ["ChatAgent", "StreamChatAgent", "ChatHistory", "ChatMessage", "RunContext", "confirm",
           "submit", "tool"]
