"""The README's gateway quick start runs as written (on a free port instead of 8000)."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
from pathlib import Path

from tests.gateway.test_command import Proc

ROOT = Path(__file__).resolve().parents[2]


def quick_start() -> list[str]:
    blocks = re.findall(r"```sh\n# gateway quick start\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "the README has one gateway quick start"
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_the_readme_gateway_quick_start_runs_as_written() -> None:
    lines = quick_start()
    start = shlex.split(lines[0].rstrip("&").strip())
    assert start[:2] == ["coagent", "gateway"]
    proc = Proc(*start[1:], "--listen", "127.0.0.1:0")
    try:
        url = proc.wait_for(r"listening on (http://\S+)").group(1)
        host = url.removeprefix("http://")
        checked = 0
        for i, line in enumerate(lines[1:], start=1):
            if not line.startswith("curl "):
                continue
            out = subprocess.run(shlex.split(re.sub(r"localhost:\d+", host, line)), capture_output=True,
                                 text=True, timeout=30)
            assert out.returncode == 0, (line, out.stderr)
            expected = lines[i + 1] if i + 1 < len(lines) else ""
            if expected.startswith("# {"):
                assert json.loads(out.stdout) == json.loads(expected[2:]), line
                checked += 1
            elif "/stream" in line:
                events = re.findall(r"^event: (\w+)$", out.stdout, re.M)
                assert events == ["message", "message", "end"], out.stdout
                assert '"word":"word0 "' in out.stdout
                checked += 1
        assert checked == 6
        assert proc.stop(signal.SIGTERM) == 0
    finally:
        proc.stop(signal.SIGKILL)
