"""Offline mode of the single-process examples here (a helper module, not an example).

With a ``MODEL_*`` variable set the examples ask that provider and this does nothing.
With none set, :func:`serve_offline` starts ``coagent.testing.FakeOpenAIServer`` and points
``MODEL_*`` at it, so ``new(Cls)`` with no client (``ModelClient()`` from the environment)
reaches it over litellm's real HTTP path. The fake model answers as a good model would,
recognising each agent by its system prompt; an agent whose system prompt it does not
know (e.g. one that lost its class-attribute prompt) gets a reply that says so.
"""

from __future__ import annotations

import json
import re
from typing import Any


def serve_offline() -> Any:
    """Start the fake model server unless a provider is configured (then ``None``)."""
    from coagent.testing import serve_offline as serve

    return serve(respond)


def _user_text(request: Any) -> str:
    for message in reversed(request.messages):
        if message.get("role") == "user":
            return message.get("content") or ""
    return ""


def respond(request: Any) -> Any:
    from coagent.testing import Reply, tool_call

    system = request.system or ""
    text = _user_text(request).lower()
    if system.startswith("You route each question"):
        stray = [n for n in request.tool_names if not n.startswith("transfer_to_team_")]
        if stray:
            return Reply(f"(offline model) I was offered agents outside the namespace: {stray}")
        wanted = "transfer_to_team_datasets" if "dataset" in text else "transfer_to_team_models"
        if wanted not in request.tool_names:
            return Reply(f"(offline model) no {wanted} among {request.tool_names}")
        return Reply(tool_calls=[tool_call(wanted)])
    if system.startswith("You answer questions about models"):
        return Reply("Models answer: llama-3 and qwen-2 are popular models.")
    if system.startswith("You answer questions about datasets"):
        return Reply("Datasets answer: wikitext is a popular dataset.")
    if system.startswith("You find models in the model hub"):
        results = request.tool_results
        if results:
            return Reply(f"Here is what I found: {results[-1].get('content')}")
        match = re.search(r"models? named (\w[\w-]*)", text)
        if match:
            return Reply(tool_calls=[tool_call("search_model", {"name": match.group(1), "language": "en"})])
        return Reply("Tell me which model to search for.")
    return Reply(f"(offline model) no scripted answer for system prompt {json.dumps(system)}")
