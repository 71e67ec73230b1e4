"""MCP tools: a ChatAgent uses the tools of an MCP server next to a Python tool.

    python examples/interop/mcp_tools.py

The agent gets an ``MCPTools`` (the weather server in ``_weather_mcp.py``, started over
stdio) beside a plain Python function. With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ...)
set it asks that model; with no ``MODEL_*`` set, a local fake model plays one that calls the tools.
"""

import asyncio
import json
import sys
from pathlib import Path

from coagent.agents import ChatAgent, ChatMessage, ModelClient
from coagent.core import AgentSpec, new
from coagent.interop import MCPTools
from coagent.runtimes import LocalRuntime
from coagent.testing import serve_offline

SERVER = str(Path(__file__).with_name("_weather_mcp.py"))


def packing_list(celsius: float) -> str:
    """What to pack for a temperature in degrees Celsius."""
    return "a coat and a scarf" if celsius < 10 else "a light jacket"


def fake_model(request):  # the offline stand-in: call the tools, then answer from their results
    from coagent.testing import Reply, tool_call

    done = {m.get("name"): m["content"] for m in request.messages if m.get("role") == "tool"}
    if "forecast" not in done:
        return Reply(tool_calls=[tool_call("forecast", city="Oslo")])
    celsius = float(done["forecast"].split(":")[1].split("°")[0])
    if "packing_list" not in done:
        return Reply(tool_calls=[tool_call("to_fahrenheit", celsius=celsius),
                                 tool_call("packing_list", celsius=celsius)])
    return (f"Oslo tomorrow: {celsius} °C ({json.loads(done['to_fahrenheit'])} °F). "
            f"Pack {done['packing_list']}.")


async def main() -> None:
    offline = serve_offline(fake_model)  # None when MODEL_* names a provider
    weather = MCPTools.stdio(sys.executable, SERVER)
    assistant = AgentSpec("assistant", new(
        ChatAgent, system="You help travellers. Use the tools.", client=ModelClient(),
        tools=[packing_list, weather],
    ))
    try:
        async with LocalRuntime() as runtime:
            await runtime.register(assistant)
            print("tools:", ", ".join(sorted(t.name for t in await weather.list_tools())))
            reply = await assistant.run(
                ChatMessage(role="user", content="I fly to Oslo tomorrow. What should I pack?").encode(),
                timeout=60,
            )
            print(ChatMessage.decode(reply).content)
    finally:
        await weather.aclose()  # stops the server's process
        if offline is not None:
            offline.close()


if __name__ == "__main__":
    asyncio.run(main())
