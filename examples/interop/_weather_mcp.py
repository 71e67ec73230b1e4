"""The MCP server of the ``mcp_tools.py`` example (a helper, started by it over stdio).

Built with the ``mcp`` SDK's own server API; any MCP server works the same way.
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("weather")

FORECASTS = {"paris": 21.0, "oslo": 4.5, "lima": 18.0}


@server.tool()
def forecast(city: str) -> str:
    """Tomorrow's forecast for a city, in degrees Celsius."""
    celsius = FORECASTS.get(city.lower())
    if celsius is None:
        raise ValueError(f"no forecast for {city}")
    return f"{city}: {celsius} °C, light wind"


@server.tool()
def to_fahrenheit(celsius: float) -> float:
    """Convert degrees Celsius to Fahrenheit."""
    return round(celsius * 9 / 5 + 32, 1)


if __name__ == "__main__":
    server.run("stdio")
