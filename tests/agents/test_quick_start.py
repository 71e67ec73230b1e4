"""The seed README's monolithic quick start, verbatim, and examples/translator, as users run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from coagent.testing import MODEL_VARIABLES, FakeOpenAIServer, Reply
from tests.signals import sigint_default

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "translator" / "translator.py"

# Copied character for character from the seed README ("Quick Start" > "Monolithic").
SEED_QUICK_START = '''\
# translator.py

import asyncio
import os

from coagent.agents import StreamChatAgent, ChatMessage, ModelClient
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

client = ModelClient(
    model=os.getenv("MODEL_NAME"),
    api_base=os.getenv("MODEL_API_BASE"),
    api_version=os.getenv("MODEL_API_VERSION"),
    api_key=os.getenv("MODEL_API_KEY"),
)

translator = AgentSpec(
    "translator",
    new(
        StreamChatAgent,
        system="You are a professional translator that can translate Chinese to English.",
        client=client,
    ),
)


async def main():
    async with LocalRuntime() as runtime:
        await runtime.register(translator)

        result = translator.run_stream(
            ChatMessage(role="user", content="你好，世界").encode()
        )
        async for chunk in result:
            msg = ChatMessage.decode(chunk)
            print(msg.content, end="", flush=True)


if __name__ == "__main__":
    set_stderr_logger()
    asyncio.run(main())
'''


def run_python(path: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT), **env},
    )


def test_seed_quick_start_runs_verbatim_against_the_fake_server(tmp_path: Path) -> None:
    script = tmp_path / "translator.py"
    script.write_text(SEED_QUICK_START, encoding="utf-8")
    with FakeOpenAIServer([Reply("Hello, world!", chunks=["Hello", ",", " world", "!"])]) as server:
        proc = run_python(script, server.env(model="openai/gpt-4o-mini"))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "Hello, world!"
        [request] = server.requests
    assert request.model == "gpt-4o-mini" and request.stream
    assert request.messages == [
        {"role": "system", "content": "You are a professional translator that can translate Chinese to English."},
        {"role": "user", "content": "你好，世界"},
    ]
    assert request.headers["authorization"] == "Bearer sk-fake"


def test_translator_example_runs_offline_without_model_variables() -> None:
    proc = run_python(EXAMPLE, {})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello, world!\n"
    assert "Traceback" not in proc.stderr


def test_translator_example_uses_the_configured_provider() -> None:
    with FakeOpenAIServer([Reply("Hi, world (from the configured provider)")], api_key="sk-real") as server:
        proc = run_python(EXAMPLE, server.env(model="openai/gpt-4o-mini"))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "Hi, world (from the configured provider)\n"
        assert len(server.requests) == 1 and server.requests[0].last_message["content"] == "你好，世界"


CTRL_C_SCRIPT = """\
import asyncio, sys, time

from coagent.agents import ChatMessage, ModelClient, StreamChatAgent
from coagent.core import AgentSpec, new
from coagent.runtimes import LocalRuntime

storyteller = AgentSpec("storyteller", new(StreamChatAgent, client=ModelClient(num_retries=0)))


async def main():
    async with LocalRuntime() as runtime:
        await runtime.register(storyteller)
        async for chunk in storyteller.run_stream(ChatMessage(role="user", content="a long story").encode()):
            print("chunk", ChatMessage.decode(chunk).content, flush=True)


try:
    asyncio.run(main())
except KeyboardInterrupt:
    print("interrupted", flush=True)
    time.sleep(30)  # stay alive: the connection must be closed by the cancellation, not by the exit
"""


def test_ctrl_c_cancels_the_in_flight_model_request(tmp_path: Path) -> None:
    import signal
    import time

    script = tmp_path / "storyteller.py"
    script.write_text(CTRL_C_SCRIPT, encoding="utf-8")
    story = " ".join(f"word{i}" for i in range(200))
    with FakeOpenAIServer([Reply(story, chunk_delay=0.2)]) as server:
        base = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
        proc = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT), **server.env()},
            preexec_fn=sigint_default,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("chunk word0"), proc.stderr.read() if proc.stderr else ""
            os.kill(proc.pid, signal.SIGINT)
            lines = []
            while True:
                line = proc.stdout.readline()
                assert line, "the script ended without reporting the interrupt"
                lines.append(line.strip())
                if line.strip() == "interrupted":
                    break
            deadline = time.monotonic() + 3
            while not server.disconnects and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proc.poll() is None  # still alive: the close came from the cancellation
            assert len(server.disconnects) == 1
            assert len(lines) < 20  # the stream stopped at the interrupt
        finally:
            proc.kill()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
            if proc.stderr is not None:
                proc.stderr.close()
