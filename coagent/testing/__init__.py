"""Coagent's public test kit.

- :class:`NATSServer`: a real ``nats-server`` on a free port, stopped by PID.
- :class:`ScriptedModel`: a model client answering from a script, in process (use it as
  the ``client`` of any agent).
- :class:`FakeOpenAIServer`: a real HTTP server speaking the OpenAI chat-completions
  protocol, answering from the same scripts, for end-to-end tests and offline examples.
- :func:`serve_offline`: a fake model for examples unless ``MODEL_*`` names a provider.
- :func:`free_port`: a loopback port nothing holds, for addresses tests make up.
- Script steps: :class:`Reply`, :class:`ErrorReply`, :func:`tool_call`, responders that
  see the :class:`ModelRequest`.
- pytest fixtures (``scripted_model``, ``fake_openai_server``, ``nats_server``) in
  :mod:`coagent.testing.pytest_plugin`, registered when Coagent is installed; async
  tests using them run with no ``asyncio_mode`` or marker to configure.

::

    from coagent.testing import ScriptedModel, Reply, tool_call

    model = ScriptedModel([Reply(tool_calls=[tool_call("add", a=1, b=2)]), "3"])
"""

from coagent.testing.fake_openai import FakeOpenAIServer
from coagent.testing.nats_server import NATSServer, find_nats_server
from coagent.testing.offline import MODEL_VARIABLES, serve_offline
from coagent.testing.ports import free_port
from coagent.testing.script import ErrorReply, ModelRequest, Reply, ScriptExhausted, tool_call
from coagent.testing.scripted_model import ScriptedModel

__all__ = [
    "NATSServer",
    "find_nats_server",
    "free_port",
    "serve_offline",
    "MODEL_VARIABLES",
    "ScriptedModel",
    "FakeOpenAIServer",
    "Reply",
    "ErrorReply",
    "ModelRequest",
    "ScriptExhausted",
    "tool_call",
]
