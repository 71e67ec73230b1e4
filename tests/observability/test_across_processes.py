"""One trace across processes: a Sequential whose steps live on two ``coagent node``
processes, exported to a real OTLP/HTTP receiver; a CLI call through a Sequential over
three node processes; and a CLI call through a gateway to a node on HTTPRuntime and back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from coagent import Address
from coagent.agents import ChatMessage
from coagent.observability import disable_tracing, enable_tracing
from coagent.testing import NATSServer
from tests.cluster import wait_for_nodes
from tests.gateway.test_command import Proc, procs, start_gateway
from tests.observability.otlp_receiver import OTLPReceiver, ReceivedSpan

__all__ = ["procs"]

ROOT = Path(__file__).resolve().parents[2]
AGENTS = Path(__file__).resolve().parent / "trace_agents.py"


def start_node(url: str, prefix: str, name: str, role: str, receiver: OTLPReceiver) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
           "OTEL_SERVICE_NAME": name, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    return subprocess.Popen(
        [sys.executable, "-m", "coagent", "node", f"{AGENTS}:{role}", "--server", url,
         "--name", name, "--prefix", prefix],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


async def test_a_sequential_over_two_node_processes_exports_one_trace_with_correct_parents(
    nats_server: NATSServer,
) -> None:
    from coagent.runtimes import NATSRuntime

    prefix = "otel1"
    with OTLPReceiver() as receiver:
        procs = [start_node(nats_server.url, prefix, "node-a", "node_a", receiver),
                 start_node(nats_server.url, prefix, "node-b", "node_b", receiver)]
        provider = TracerProvider(resource=Resource.create({"service.name": "cli"}))
        provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")))
        enable_tracing(provider)
        try:
            client = NATSRuntime.from_servers(nats_server.url, prefix=prefix, announce=False,
                                              default_timeout=30)
            async with client:
                await wait_for_nodes(client, {"node-a", "node-b"})
                tracer = provider.get_tracer("test")
                with tracer.start_as_current_span("cli call", kind=SpanKind.CLIENT) as root:
                    reply = await client.ask(Address("chain", "s1"),
                                             ChatMessage(role="user", content="go"))
                trace_id = format(root.get_span_context().trace_id, "032x")
            assert reply.content == "from second"
            wanted = {"cli call", "handle chain", "step chain/first", "step chain/second",
                      "invoke_agent first", "invoke_agent second"}
            spans = receiver.wait_for(lambda got: wanted <= {s.name for s in got})
        finally:
            disable_tracing()
            provider.shutdown()
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(15)
                assert p.stderr is not None
                p.stderr.close()

    assert {s.trace_id for s in spans} == {trace_id}
    by_name = {s.name: s for s in spans}
    by_id = {s.span_id: s for s in spans}

    def parent(name: str) -> str:
        return by_id[by_name[name].parent_id].name

    assert by_name["cli call"].parent_id == ""
    assert parent("handle chain") == "cli call"
    assert parent("step chain/first") == "handle chain"
    assert parent("step chain/second") == "handle chain"
    assert parent("invoke_agent first") == "step chain/first"
    assert parent("invoke_agent second") == "step chain/second"
    # Each span was exported by the process that made it.
    assert by_name["cli call"].service == "cli"
    assert {by_name[n].service for n in ("handle chain", "step chain/first", "step chain/second",
                                         "invoke_agent first")} == {"node-a"}
    assert by_name["invoke_agent second"].service == "node-b"
    # A span whose parent is in another process is the server side of the call.
    assert by_name["handle chain"].kind == SpanKind.SERVER.value + 1  # OTLP enums count from 1
    assert by_name["invoke_agent second"].kind == SpanKind.SERVER.value + 1
    assert by_name["invoke_agent second"].attributes["gen_ai.agent.name"] == "second"


async def test_a_cli_call_through_a_sequential_over_three_node_processes_is_one_trace(
    nats_server: NATSServer,
) -> None:
    from coagent.runtimes import NATSRuntime

    prefix = "otel3"
    with OTLPReceiver() as receiver:
        procs = [start_node(nats_server.url, prefix, f"node-{role[0]}", role, receiver)
                 for role in ("chain_only", "first_only", "second_only")]
        try:
            client = NATSRuntime.from_servers(nats_server.url, prefix=prefix, announce=False)
            async with client:
                await wait_for_nodes(client, {"node-c", "node-f", "node-s"})
            env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
            cli = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "coagent", "chain:s1", "-H", "type:ChatMessage", "--chat",
                 "-d", '{"role": "user", "content": "go"}', "--server", nats_server.url,
                 "--prefix", prefix],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=90,
            )
            assert cli.returncode == 0, cli.stderr
            assert cli.stdout.strip() == "from second"
            wanted = {"send chain", "handle chain", "step chain/first", "step chain/second",
                      "invoke_agent first", "invoke_agent second"}
            spans = receiver.wait_for(lambda got: wanted <= {s.name for s in got})
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(15)
                assert p.stderr is not None
                p.stderr.close()
    assert len({s.trace_id for s in spans}) == 1
    by_name = {s.name: s for s in spans}
    by_id = {s.span_id: s for s in spans}
    assert by_name["send chain"].parent_id == "" and by_name["send chain"].service == "coagent-cli"
    assert by_id[by_name["handle chain"].parent_id].name == "send chain"
    assert by_id[by_name["invoke_agent first"].parent_id].name == "step chain/first"
    assert by_id[by_name["invoke_agent second"].parent_id].name == "step chain/second"
    assert [by_name[n].service for n in ("handle chain", "invoke_agent first", "invoke_agent second")] == [
        "node-c", "node-f", "node-s"]


def test_a_cli_call_through_a_gateway_to_an_http_runtime_process_and_back_is_one_trace(
        monkeypatch: pytest.MonkeyPatch, procs: list[Proc]) -> None:
    # The CLI calls ``chain`` through the gateway; chain (and its first step) run in a
    # `coagent node --server http://...` process, whose second step is served by the
    # gateway's own node: the trace crosses HTTP three times (stream, delivery, stream).
    with OTLPReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        gateway, url = start_gateway(procs, "--agents", f"{AGENTS}:second_only", "--auth", "tok")
        node = Proc("node", f"{AGENTS}:node_a", "--server", url, "--auth", "tok", "--name", "node-h")
        procs.append(node)
        node.wait_for(r"serving \[chain, first\]")
        cli = subprocess.run(
            [sys.executable, "-m", "coagent", "chain:s1", "-H", "type:ChatMessage", "--chat",
             "-d", '{"role": "user", "content": "go"}', "--server", url, "--auth", "tok"],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True,
            timeout=90,
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.strip() == "from second"
        call = "POST /v1/agents/{name}/sessions/{session}/stream"  # --chat streams the reply
        wanted = {"send chain", call, "handle chain", "step chain/first", "step chain/second",
                  "invoke_agent first", "invoke_agent second"}
        spans = receiver.wait_for(lambda got: wanted <= {s.name for s in got}
                                  and sum(s.name == call for s in got) == 2
                                  and sum(s.name == "handle chain" for s in got) == 2)
        assert node.stop() == 0 and gateway.stop() == 0
    root = next(s for s in spans if s.name == "send chain")
    ours = [s for s in spans if s.trace_id == root.trace_id]
    by_id = {s.span_id: s for s in ours}

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        return by_id[span.parent_id]

    def one(name: str, service: str) -> ReceivedSpan:
        (found,) = [s for s in ours if s.name == name and s.service == service]
        return found

    assert root.parent_id == "" and root.service == "coagent-cli"
    first_post = parent(one("handle chain", "coagent-gateway"))
    assert first_post.name == call and parent(first_post) is root
    relay = one("handle chain", "coagent-gateway")
    assert relay.attributes["coagent.actor.type"] == "Relay"
    chain = one("handle chain", "coagent-node-node-h")
    assert parent(chain) is relay and chain.kind == SpanKind.SERVER.value + 1
    assert parent(one("step chain/first", "coagent-node-node-h")) is chain
    assert parent(one("invoke_agent first", "coagent-node-node-h")).name == "step chain/first"
    second_step = one("step chain/second", "coagent-node-node-h")
    second_post = next(s for s in ours if s.name == call and s is not first_post)
    assert parent(second_post) is second_step  # traceparent in the HTTPRuntime's request
    assert second_post.service == "coagent-gateway"
    assert parent(one("invoke_agent second", "coagent-gateway")) is second_post
