"""Workflow: Chaining (the seed README's "Patterns" example, runnable).

Four agents in a ``Sequential``: each processes the previous one's output. The last
one (a ``StreamChatAgent``) streams the markdown table back through the chain.

    python examples/patterns/chaining.py

With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ``MODEL_API_VERSION``, ``MODEL_API_KEY``
as your provider needs) set, it asks that model; with none set it runs offline
against a local fake model server (see ``_offline.py``).
"""

import asyncio

from _offline import serve_offline

from coagent.agents import ChatAgent, ChatMessage, ModelClient, Sequential, StreamChatAgent
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

offline_server = serve_offline()  # None when MODEL_* names a provider

client = ModelClient()  # MODEL_NAME, MODEL_API_BASE, MODEL_API_VERSION, MODEL_API_KEY

extractor = AgentSpec(
    "extractor",
    new(
        ChatAgent,
        system="""\
Extract only the numerical values and their associated metrics from the text.
Format each as 'value: metric' on a new line.
Example format:
92: customer satisfaction
45%: revenue growth\
""",
        client=client,
    ),
)

converter = AgentSpec(
    "converter",
    new(
        ChatAgent,
        system="""\
Convert all numerical values to percentages where possible.
If not a percentage or points, convert to decimal (e.g., 92 points -> 92%).
Keep one number per line.
Example format:
92%: customer satisfaction
45%: revenue growth\
""",
        client=client,
    ),
)

sorter = AgentSpec(
    "sorter",
    new(
        ChatAgent,
        system="""\
Sort all lines in descending order by numerical value.
Keep the format 'value: metric' on each line.
Example:
92%: customer satisfaction
87%: employee satisfaction\
""",
        client=client,
    ),
)

formatter = AgentSpec(
    "formatter",
    new(
        StreamChatAgent,
        system="""\
Format the sorted data as a markdown table with columns:
| Metric | Value |
|:--|--:|
| Customer Satisfaction | 92% |\
""",
        client=client,
    ),
)

chain = AgentSpec(
    "chain", new(Sequential, "extractor", "converter", "sorter", "formatter")
)

REPORT = """\
Q3 Performance Summary:
Our customer satisfaction score rose to 92 points this quarter.
Revenue grew by 45% compared to last year.
Market share is now at 23% in our primary market.
Customer churn decreased to 5% from 8%.
New user acquisition cost is $43 per user.
Product adoption rate increased to 78%.
Employee satisfaction is at 87 points.
Operating margin improved to 34%.\
"""


async def main():
    async with LocalRuntime() as runtime:
        for spec in (extractor, converter, sorter, formatter, chain):
            await runtime.register(spec)

        result = chain.run_stream(ChatMessage(role="user", content=REPORT).encode())
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
