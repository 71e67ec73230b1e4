"""The HTTP stack loads only when the gateway is used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_coagent_and_its_cli_loads_no_http_stack() -> None:
    code = (
        "import sys, coagent, coagent.core, coagent.runtimes, coagent.cli.main;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'httpx', 'coagent.gateway')"
        " or m.startswith('coagent.gateway')];"
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
