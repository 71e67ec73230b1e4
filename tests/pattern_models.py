"""Deterministic scripted models for the pattern tests (in-process and over NATS).

Each answers from the request alone, so any interleaving of sessions gives the same replies.
"""

from __future__ import annotations

from coagent.testing import Reply, ScriptedModel, tool_call


def echo_model() -> ScriptedModel:
    """Answers ``<system>(<last message>)``: deterministic whatever the interleaving."""
    return ScriptedModel(default=lambda r: f"{r.system}({r.last_message.get('content', '')})")


def triage_model() -> ScriptedModel:
    def route(request) -> Reply | str:
        text = request.last_message.get("content", "")
        tools = request.tool_names
        for keyword, agent in (("invoice", "team_billing"), ("password", "team_account"), ("laptop", "team_tech")):
            if keyword in text and f"transfer_to_{agent}" in tools:
                return Reply(tool_calls=[tool_call(f"transfer_to_{agent}")])
        if request.system and request.system.startswith("You are"):
            return "I can only help with billing and accounts."
        return f"{request.system}: {text}"

    return ScriptedModel(default=route)


def handoff_model() -> ScriptedModel:
    def respond(request) -> Reply | str:
        system = request.system or ""
        tools = request.tool_names
        if system == "front" and "transfer_to_refunds" in tools:
            return Reply(tool_calls=[tool_call("transfer_to_refunds", reason="refund")])
        if system == "refunds":
            return f"refunds here, history has {len(request.messages) - 1} messages"
        if system == "ping" and "transfer_to_pong" in tools:
            return Reply(tool_calls=[tool_call("transfer_to_pong")])
        if system == "pong" and "transfer_to_ping" in tools:
            return Reply(tool_calls=[tool_call("transfer_to_ping")])
        return "?"

    return ScriptedModel(default=respond)


def group_model() -> ScriptedModel:
    def writer_or_critic(request) -> str:
        turns = len(request.messages) - 1
        if request.system == "critic":
            return "APPROVED" if turns >= 3 else f"critic round {turns}"
        return f"draft {turns}"

    return ScriptedModel(default=writer_or_critic)
