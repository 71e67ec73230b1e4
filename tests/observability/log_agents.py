"""An agent that logs inside its handler: ``coagent node tests/observability/log_agents.py``."""

from __future__ import annotations

import logging

from coagent import Actor, Context, Message, handler
from coagent.core import AgentSpec, new


class LogSay(Message):
    text: str = ""


class LogDone(Message):
    pass


class Talker(Actor):
    @handler
    async def say(self, msg: LogSay, ctx: Context) -> LogDone:
        logging.getLogger("coagent.test.talker").warning("said %s", msg.text)
        return LogDone()


talker = AgentSpec("talker", new(Talker))
