"""Workflow: Parallelization (the seed README's "Patterns" example, runnable).

Four stakeholder analysts answer the same question at once (``Parallel``); the
``Aggregator`` joins their answers, one section per analyst, in branch order.

    python examples/patterns/parallelization.py

With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ``MODEL_API_VERSION``, ``MODEL_API_KEY``
as your provider needs) set, it asks that model; with none set it runs offline
against a local fake model server (see ``_offline.py``).
"""

import asyncio

from _offline import serve_offline

from coagent.agents import Aggregator, ChatAgent, ChatMessage, ModelClient, Parallel
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

offline_server = serve_offline()  # None when MODEL_* names a provider

client = ModelClient()  # MODEL_NAME, MODEL_API_BASE, MODEL_API_VERSION, MODEL_API_KEY

customer = AgentSpec(
    "customer",
    new(
        ChatAgent,
        system="""\
Customers:
- Price sensitive
- Want better tech
- Environmental concerns\
""",
        client=client,
    ),
)

employee = AgentSpec(
    "employee",
    new(
        ChatAgent,
        system="""\
Employees:
- Job security worries
- Need new skills
- Want clear direction\
""",
        client=client,
    ),
)

investor = AgentSpec(
    "investor",
    new(
        ChatAgent,
        system="""\
Investors:
- Expect growth
- Want cost control
- Risk concerns\
""",
        client=client,
    ),
)

supplier = AgentSpec(
    "supplier",
    new(
        ChatAgent,
        system="""\
Suppliers:
- Capacity constraints
- Price pressures
- Tech transitions\
""",
        client=client,
    ),
)

aggregator = AgentSpec("aggregator", new(Aggregator))

parallel = AgentSpec(
    "parallel",
    new(
        Parallel,
        "customer",
        "employee",
        "investor",
        "supplier",
        aggregator="aggregator",
    ),
)

QUESTION = """\
Analyze how these market changes will impact the stakeholder group described above:
- a new competitor cut prices by 20%;
- AI automation is entering our industry;
- carbon-emission regulation tightens next year.
Provide specific impacts with priorities, and one recommended action. Be concise.\
"""


async def main():
    async with LocalRuntime() as runtime:
        for spec in (customer, employee, investor, supplier, aggregator, parallel):
            await runtime.register(spec)

        result = await parallel.run(ChatMessage(role="user", content=QUESTION).encode())
        print(ChatMessage.decode(result).content)


if __name__ == "__main__":
    set_stderr_logger()
    try:
        asyncio.run(main())
    finally:
        if offline_server is not None:
            offline_server.close()
