"""docs/wire.md names every header and marker, and its worked examples hold with plain nats-py."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from coagent import Address
from coagent.core import AgentSpec, new
from coagent.runtimes import NATSRuntime
from coagent.testing import NATSServer
from coagent.transport import wire
from coagent.transport.subjects import Subjects
from tests.kit import Stateful
from tests.transport.conftest import fresh_prefix

DOC = (Path(__file__).resolve().parents[2] / "docs" / "wire.md").read_text()


def _wire_constants() -> dict[str, str]:
    return {
        name: value for name, value in vars(wire).items()
        if re.fullmatch(r"(H|KIND|STATUS)_[A-Z_]+|[A-Z]+_MARKER", name) and isinstance(value, str)
    }


def test_every_header_and_marker_of_the_wire_module_is_documented() -> None:
    constants = _wire_constants()
    assert len(constants) >= 17
    for name, value in constants.items():
        assert f"`{value}" in DOC, f"wire.{name} = {value!r} is not in docs/wire.md"
    for header in wire.RESERVED_HEADERS:
        assert f"`{header}`" in DOC


def test_every_subject_kind_is_documented() -> None:
    subjects = Subjects("P", "NODE")
    templates = [
        subjects.agent("TYPE"), subjects.session("NODE", Address("NAME", "SESSION")),
        subjects.ping("NODE"), subjects.cancel("NODE"),
        *(subjects.sys(what) for what in ("cancel", "ping", "agents", "tree")),
        subjects.claims_bucket, subjects.leases_bucket,
    ]
    for template in templates:
        text = (template.replace("NODE", "<node>").replace("TYPE", "<type>")
                .replace("NAME", "<name>").replace("SESSION", "<session>"))
        assert f"`{text}" in DOC, f"subject {text!r} is not in docs/wire.md"


@pytest.fixture
async def wire_node(nats_server: NATSServer) -> AsyncIterator[tuple[Any, str, str]]:
    """A node serving ``echo`` and a plain nats-py connection: (nc, prefix, node name)."""
    prefix = fresh_prefix()
    name = f"{prefix}-a"
    node = NATSRuntime(nats_server.url, name=name, prefix=prefix, default_timeout=10)
    nc = await nats.connect(nats_server.url)
    try:
        async with node:
            await node.register(AgentSpec("echo", new(Stateful)))
            yield nc, prefix, name
    finally:
        await nc.close()


async def test_the_ask_example_works_with_plain_nats(wire_node: tuple[Any, str, str]) -> None:
    nc, p, node = wire_node
    first = await nc.request(f"{p}.a.echo", b'{"n": 1}', timeout=5,
                             headers={"type": "Ping", "session": "s1", "timeout": "5"})
    assert first.headers["type"] == "Pong" and first.headers["owner"] == node
    assert msgspec.json.decode(first.data) == {"n": 1}
    second = await nc.request(f"{p}.n.{node}.echo.s1", b'{"n": 1}', timeout=5, headers={"type": "Ping"})
    assert msgspec.json.decode(second.data) == {"n": 2} and "owner" not in second.headers
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request(f"{p}.a.nobody", b"{}", timeout=5, headers={"type": "Ping", "session": "s1"})
    bad = await nc.request(f"{p}.n.{node}.echo.s1", b'{"n": "x"}', timeout=5, headers={"type": "Ping"})
    assert bad.headers["error"] == "message_decode_error"
    assert "message" in msgspec.json.decode(bad.data)


async def test_the_tell_example_works_with_plain_nats(wire_node: tuple[Any, str, str]) -> None:
    nc, p, node = wire_node
    await nc.request(f"{p}.a.echo", b"{}", timeout=5, headers={"type": "Ping", "session": "s1"})
    await nc.publish(f"{p}.n.{node}.echo.s1", b'{"text": "hello"}', headers={"type": "Note", "kind": "tell"})
    ack = await nc.request(f"{p}.n.{node}.echo.s1", b'{"text": "again"}', timeout=5,
                           headers={"type": "Note", "kind": "tell"})
    assert ack.data == b"" and "error" not in (ack.headers or {})
    pong = await nc.request(f"{p}.n.{node}.echo.s1", b"{}", timeout=5, headers={"type": "Ping"})
    assert msgspec.json.decode(pong.data) == {"n": 2}  # both notes were handled in order


async def test_the_stream_example_works_with_plain_nats(wire_node: tuple[Any, str, str]) -> None:
    nc, p, node = wire_node
    inbox = nc.new_inbox()
    got: asyncio.Queue[Any] = asyncio.Queue()

    async def collect(msg: Any) -> None:
        await got.put(msg)

    await nc.subscribe(f"{inbox}.>", cb=collect)
    await nc.flush()
    await nc.publish(f"{p}.a.echo", b'{"n": 2, "delay": 0}', reply=f"{inbox}.1",
                     headers={"type": "Count", "kind": "stream", "session": "s1"})
    messages = [await asyncio.wait_for(got.get(), 5) for _ in range(3)]
    assert [m.headers["seq"] for m in messages] == ["1", "2", "3"]
    assert messages[0].headers["owner"] == node
    assert [m.headers.get("type") for m in messages[:2]] == ["Tick", "Tick"]
    assert [msgspec.json.decode(m.data) for m in messages[:2]] == [{"i": 0}, {"i": 1}]
    assert messages[2].headers["end"] == "1" and messages[2].data == b""


async def test_the_cancel_example_works_with_plain_nats(wire_node: tuple[Any, str, str]) -> None:
    nc, p, node = wire_node
    subject = f"{p}.n.{node}.echo.s1"
    await nc.request(f"{p}.a.echo", b"{}", timeout=5, headers={"type": "Ping", "session": "s1"})
    inbox = nc.new_inbox()
    replies: list[Any] = []

    async def collect(msg: Any) -> None:
        replies.append(msg)

    await nc.subscribe(f"{inbox}.>", cb=collect)
    await nc.publish(subject, b'{"seconds": 30}', reply=f"{inbox}.2", headers={"type": "Sleep"})
    await nc.flush()
    await asyncio.sleep(0.3)
    await nc.publish(f"{p}.ctl.{node}.cancel", f"{inbox}.2".encode())
    start = time.monotonic()
    pong = await nc.request(subject, b"{}", timeout=5, headers={"type": "Ping"})
    assert time.monotonic() - start < 1.0  # the sleeping handler was cancelled
    assert msgspec.json.decode(pong.data) == {"n": 2}
    await asyncio.sleep(0.1)
    assert replies == []  # a cancelled call gets no further messages


async def test_discovery_works_with_plain_nats(wire_node: tuple[Any, str, str]) -> None:
    nc, p, node = wire_node
    assert (await nc.request(f"{p}.sys.ping", b"", timeout=5)).data.decode() == node
    assert (await nc.request(f"{p}.ctl.{node}.ping", b"", timeout=5)).data.decode() == node
    agents = msgspec.json.decode((await nc.request(f"{p}.sys.agents", b"", timeout=5)).data)
    assert [(a["name"], a["node"]) for a in agents] == [("echo", node)]
    tree = msgspec.json.decode((await nc.request(f"{p}.sys.tree", b"", timeout=5)).data)
    assert tree["node"] == node and tree["agents"][0]["name"] == "echo"
