"""Workflow: Triaging & Routing (the seed README's "Patterns" example, runnable).

``DynamicTriage`` finds the agents under the ``team`` namespace when a request comes
in, lets the model pick one through a ``transfer_to_team_<name>`` tool call, and
streams the chosen specialist's answer back. A request no specialist fits is answered
by the triage model itself.

    python examples/patterns/triaging.py

With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ``MODEL_API_VERSION``, ``MODEL_API_KEY``
as your provider needs) set, it asks that model; with none set it runs offline
against a local fake model server (see ``_offline.py``).
"""

import asyncio

from _offline import serve_offline

from coagent.agents import ChatMessage, DynamicTriage, ModelClient, StreamChatAgent
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

offline_server = serve_offline()  # None when MODEL_* names a provider

client = ModelClient()  # MODEL_NAME, MODEL_API_BASE, MODEL_API_VERSION, MODEL_API_KEY

billing = AgentSpec(
    "team.billing",  # Under the team namespace
    new(
        StreamChatAgent,
        system="""\
You are a billing support specialist. Follow these guidelines:
1. Always start with "Billing Support Response:"
2. First acknowledge the specific billing issue
3. Explain any charges or discrepancies clearly
4. List concrete next steps with timeline
5. End with payment options if relevant

Keep responses professional but friendly.\
""",
        client=client,
    ),
    description="Billing questions: charges, invoices, refunds, payment methods.",
)

account = AgentSpec(
    "team.account",  # Under the team namespace
    new(
        StreamChatAgent,
        system="""\
You are an account security specialist. Follow these guidelines:
1. Always start with "Account Support Response:"
2. Prioritize account security and verification
3. Provide clear steps for account recovery/changes
4. Include security tips and warnings
5. Set clear expectations for resolution time

Maintain a serious, security-focused tone.\
""",
        client=client,
    ),
    description="Account access and security: sign-in problems, passwords, suspicious activity.",
)

triage = AgentSpec(
    "triage",
    new(
        DynamicTriage,
        system="""You are a triage agent who will delegate to sub-agents based on the conversation content.""",
        client=client,
        namespace="team",  # Collect all sub-agents under the team namespace
    ),
)

TICKETS = [
    "I was charged twice for my subscription this month. Can you fix it?",
    "I can't sign in anymore, and I think someone changed my password.",
    "What's the weather like in Paris today?",
]


async def main():
    async with LocalRuntime() as runtime:
        for spec in (billing, account, triage):
            await runtime.register(spec)

        for number, ticket in enumerate(TICKETS, 1):
            if number > 1:
                print()
            print(f"--- ticket {number}: {ticket}")
            result = triage.run_stream(
                ChatMessage(role="user", content=ticket).encode(), session_id=f"ticket-{number}"
            )
            async for chunk in result:
                msg = ChatMessage.decode(chunk)
                print(msg.content, end="", flush=True)
            print()


if __name__ == "__main__":
    set_stderr_logger()
    try:
        asyncio.run(main())
    finally:
        if offline_server is not None:
            offline_server.close()
