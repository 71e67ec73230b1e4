"""The SDKs stay optional: importing Coagent (agents, gateway, CLI, interop) loads neither."""

from __future__ import annotations

import subprocess
import sys


def test_importing_coagent_and_its_interop_module_loads_no_sdk() -> None:
    code = (
        "import sys, coagent, coagent.agents, coagent.gateway, coagent.cli.main, coagent.interop\n"
        "from coagent.interop import MCPServerUnavailable, RemoteAgentError\n"
        "loaded = [m for m in ('mcp', 'a2a', 'starlette', 'uvicorn', 'google.protobuf') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONDONTWRITEBYTECODE": "1",
                        "PATH": ""})


def test_interop_errors_keep_their_types_across_the_wire() -> None:
    from coagent.errors import error_class
    from coagent.interop import MCPServerUnavailable, RemoteAgentError

    code, message, details = MCPServerUnavailable("down", server="python s.py").to_wire()
    again = error_class(code).from_wire(message, details)
    assert isinstance(again, MCPServerUnavailable) and again.server == "python s.py"
    code, message, details = RemoteAgentError("failed", url="http://x").to_wire()
    assert isinstance(error_class(code).from_wire(message, details), RemoteAgentError)
