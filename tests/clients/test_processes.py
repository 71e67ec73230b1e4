"""The clients as their users run them: `node` and `go` processes serving and calling agents
through a real `coagent gateway` process, a Python caller, auth, and a gateway restart.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import httpx
from httpx_sse import connect_sse

from coagent.actors.address import Address
from coagent.actors.message import RawMessage
from coagent.runtimes.http import HTTPRuntime
from tests.clients.conftest import ROOT, TOKEN, Gateway, Proc

NODE_EXAMPLES = ROOT / "examples" / "cos" / "node"
Spawn = Callable[..., Proc]


def node_server(spawn: Spawn, node: str, gw: Gateway, *extra: str) -> Proc:
    proc = spawn([node, str(NODE_EXAMPLES / "server.mjs"), "--server", gw.url, *extra])
    proc.wait_for("serving node-pong and node-speaker")
    return proc


def go_server(spawn: Spawn, go_bins: dict[str, str], gw: Gateway, *extra: str) -> Proc:
    proc = spawn([go_bins["server"], "-server", gw.url, *extra])
    proc.wait_for("serving go-pong and go-speaker")
    return proc


def run(args: list[str], timeout: float = 60) -> str:
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def caller_output(lang: str, count: tuple[int, int, int] = (1, 2, 1)) -> str:
    return "".join([
        f'alice: Pong pong to "hi from alice" from {lang} (#{count[0]})\n',
        f'alice: Pong pong to "hi from alice" from {lang} (#{count[1]})\n',
        f'bob: Pong pong to "hi from bob" from {lang} (#{count[2]})\n',
        "streamed: one two three\n",
        "typed error: agent_not_found (HTTP 404)\n",
    ])


def test_the_node_examples_serve_and_call_through_the_gateway(gateway: Callable[..., Gateway], spawn: Spawn,
                                                              node: str) -> None:
    gw = gateway()
    node_server(spawn, node, gw)
    out = run([node, str(NODE_EXAMPLES / "caller.mjs"), "--server", gw.url])
    assert out == caller_output("Node.js")


def test_the_go_examples_serve_and_call_through_the_gateway(gateway: Callable[..., Gateway], spawn: Spawn,
                                                            go_bins: dict[str, str]) -> None:
    gw = gateway()
    go_server(spawn, go_bins, gw)
    assert run([go_bins["caller"], "-server", gw.url]) == caller_output("Go")


def test_each_language_calls_the_agents_of_the_other(gateway: Callable[..., Gateway], spawn: Spawn, node: str,
                                                     go_bins: dict[str, str]) -> None:
    gw = gateway()
    node_server(spawn, node, gw)
    go_server(spawn, go_bins, gw)
    assert run([go_bins["caller"], "-server", gw.url, "node-pong", "node-speaker"]) == caller_output("Node.js")
    node_caller = [node, str(NODE_EXAMPLES / "caller.mjs"), "--server", gw.url, "go-pong", "go-speaker"]
    assert run(node_caller) == caller_output("Go")


async def test_a_python_caller_reaches_a_node_agent_and_a_go_agent(gateway: Callable[..., Gateway], spawn: Spawn,
                                                                   node: str, go_bins: dict[str, str]) -> None:
    gw = gateway("--auth", TOKEN)
    node_server(spawn, node, gw, "--auth", TOKEN)
    go_server(spawn, go_bins, gw, "-auth", TOKEN)
    headers = gw.headers()
    async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=10) as http:
        for lang, agent in (("Node.js", "node-pong"), ("Go", "go-pong")):
            r = await http.post(f"/v1/agents/{agent}/sessions/py/call", json={"type": "Ping", "content": {"text": "py"}})
            assert r.status_code == 200, r.text
            assert r.json() == {"type": "Pong", "content": {"text": f'pong to "py" from {lang}', "count": 1}}
    # And through the actor API, as any Python agent would: HTTPRuntime, the seed's constructor.
    async with HTTPRuntime.from_server(gw.url, TOKEN) as runtime:
        for lang, agent in (("Node.js", "node-pong"), ("Go", "go-pong")):
            ping = RawMessage(header={"type": "Ping", "content_type": "application/json"}, content=b'{"text": "rt"}')
            reply = await runtime.ask(Address(agent, "py"), ping, timeout=10)
            raw = getattr(reply, "raw", reply)
            assert raw.header["type"] == "Pong"
            assert json.loads(raw.content) == {"text": f'pong to "rt" from {lang}', "count": 2}
        for agent in ("node-speaker", "go-speaker"):
            speak = RawMessage(header={"type": "Speak", "content_type": "application/json"},
                               content=b'{"text": "a b c d"}')
            words = []
            async with runtime.stream(Address(agent, "py"), speak, timeout=10) as parts:
                async for part in parts:
                    words.append(json.loads(getattr(part, "raw", part).content)["word"])
            assert words == ["a", "b", "c", "d"]


def test_a_server_with_a_wrong_token_exits_with_unauthorized(gateway: Callable[..., Gateway], node: str,
                                                            go_bins: dict[str, str]) -> None:
    gw = gateway("--auth", TOKEN)
    for args in ([node, str(NODE_EXAMPLES / "server.mjs"), "--server", gw.url, "--auth", "wrong"],
                 [go_bins["server"], "-server", gw.url, "-auth", "wrong"]):
        out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and "unauthorized" in (out.stdout + out.stderr).lower(), out
    r = httpx.get(f"{gw.url}/v1/agents", headers=gw.headers(), timeout=5)
    assert {a["name"] for a in r.json()["agents"]} == {"echo"}


def test_the_clients_serve_again_after_the_gateway_is_killed_and_restarted(
        gateway: Callable[..., Gateway], spawn: Spawn, node: str, go_bins: dict[str, str]) -> None:
    gw = gateway()
    node_proc = node_server(spawn, node, gw)
    go_proc = go_server(spawn, go_bins, gw)
    assert run([go_bins["caller"], "-server", gw.url, "node-pong", "node-speaker"]) == caller_output("Node.js")
    assert run([go_bins["caller"], "-server", gw.url]) == caller_output("Go")
    gw.kill()
    gw.start()
    gw.wait_served("node-pong", "node-speaker", "go-pong", "go-speaker")
    # The same processes serve: their per-session counts go on from where they were.
    assert run([go_bins["caller"], "-server", gw.url, "node-pong", "node-speaker"]) == caller_output("Node.js", (3, 4, 2))
    assert run([go_bins["caller"], "-server", gw.url]) == caller_output("Go", (3, 4, 2))
    assert node_proc.proc.poll() is None and go_proc.proc.poll() is None


def test_a_node_agent_on_the_cos_protocol_answers_the_originals_calls(gateway: Callable[..., Gateway], spawn: Spawn,
                                                                      node: str) -> None:
    """The request sequence of the original's cos.js (register, AgentCreated, subscribe, publish
    per item, StopIteration), served by our Node client, called as the original's clients call."""
    gw = gateway()
    script = ROOT / "tests" / "clients" / "node" / "cos_agents.mjs"
    spawn([node, str(script), gw.url]).wait_for("registered")
    r = httpx.post(f"{gw.url}/runtime/channel/publish", timeout=10, json={
        "addr": {"name": "server", "id": "s1"}, "msg": {"header": {"type": "Ping"}}, "request": True, "timeout": 5})
    assert r.status_code == 200 and r.json()["header"]["type"] == "Pong", r.text
    body = {"addr": {"name": "stream_server", "id": "s2"}, "msg": {"header": {"type": "Ping"}, "content": "{}"}}
    with httpx.Client(timeout=10) as http, connect_sse(http, "POST", f"{gw.url}/runtime/channel/publish_multi",
                                                      json=body) as events:
        words = [json.loads(json.loads(sse.data)["content"])["content"] for sse in events.iter_sse()
                 if sse.event == "message"]
    assert "".join(words) == "Hi there, this is the Pong server."
