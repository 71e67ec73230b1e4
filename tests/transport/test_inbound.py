"""Inbound delivery: handlers called from nats-py's read loop, headers parsed as nats-py does."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import nats
import pytest

from coagent.testing import NATSServer
from coagent.transport.nats.inbound import Inbound, parse_header_block

Got = list[tuple[str, str, bytes, "dict[str, str] | None"]]


def recorder(into: Got) -> Any:
    def handler(subject: str, reply: str, data: bytes, headers: dict[str, str] | None) -> None:
        into.append((subject, reply, data, headers))

    return handler


async def wait_for(cond: Any, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


BLOCKS = [
    b"NATS/1.0\r\n\r\n",
    b"NATS/1.0\r\ntype: Ping\r\n\r\n",
    b"NATS/1.0\r\ntype: Pong\r\nowner: node-1\r\nseq: 12\r\n\r\n",
    b"NATS/1.0\r\ntype:NoSpace\r\n\r\n",
    b"NATS/1.0\r\n  padded  :  both sides  \r\n\r\n",
    b"NATS/1.0\r\nbad key: skipped\r\nok: kept\r\n\r\n",
    b"NATS/1.0\r\nno colon here\r\nk: v\r\n\r\n",
    b"NATS/1.0\r\nvalue: caf\xc3\xa9 \xff\r\n\r\n",
    b"NATS/1.0\r\nn\xc3\xa4me: skipped\r\n\r\n",
    b"NATS/1.0\r\ndup: one\r\ndup: two\r\n\r\n",
    b"NATS/1.0\r\ntime: 12:30:01\r\n\r\n",
]


@pytest.mark.parametrize("block", BLOCKS)
async def test_header_blocks_parse_to_what_nats_py_itself_makes_of_them(
    nats_server: NATSServer, block: bytes,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        expected = await nc._process_headers(block)
    finally:
        await nc.close()
    assert parse_header_block(block) == expected
    assert parse_header_block(block) == expected  # and again, from the cache


def test_a_parsed_header_dict_is_the_callers_own() -> None:
    block = b"NATS/1.0\r\ntype: Mine\r\n\r\n"
    first = parse_header_block(block)
    assert first is not None
    first["type"] = "changed"
    assert parse_header_block(block) == {"type": "Mine"}


async def test_handlers_run_from_the_read_loop_in_order_with_headers_and_replies(
    nats_server: NATSServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    sender = await nats.connect(nats_server.url)
    try:
        inbound = Inbound(nc)
        assert inbound.direct  # this nats-py has what the direct path relies on
        got: Got = []
        sub = await inbound.subscribe("direct.>", recorder(got))
        await nc.flush()
        for i in range(500):
            await sender.publish(f"direct.{i % 3}", str(i).encode(), reply="back.here",
                                 headers={"type": "Ping", "n": str(i)} if i % 2 else None)
        await sender.flush()
        await wait_for(lambda: len(got) == 500)
        assert [d for _, _, d, _ in got] == [str(i).encode() for i in range(500)]
        assert got[1] == ("direct.1", "back.here", b"1", {"type": "Ping", "n": "1"})
        assert got[2] == ("direct.2", "back.here", b"2", None)
        # Nothing went through the subscription's queue and task: the read loop called us.
        assert sub._pending_queue.qsize() == 0 and sub.delivered == 500
        assert nc.stats["in_msgs"] >= 500
    finally:
        await sender.close()
        await nc.close()


async def test_a_status_reply_is_parsed_by_nats_py_and_reaches_the_handler(nats_server: NATSServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        inbound = Inbound(nc)
        got: Got = []
        await inbound.subscribe("mybox.*", recorder(got))
        await nc.publish("nobody.listens", b"", reply="mybox.1", headers={"type": "Ping"})
        await wait_for(lambda: got)
        assert got[0][3] is not None and got[0][3].get("Status") == "503"
    finally:
        await nc.close()


async def test_a_failing_handler_is_logged_and_the_next_message_still_arrives(
    nats_server: NATSServer, caplog: pytest.LogCaptureFixture,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        inbound = Inbound(nc)
        got: Got = []

        def flaky(subject: str, reply: str, data: bytes, headers: dict[str, str] | None) -> None:
            if data == b"boom":
                raise ValueError("boom")
            got.append((subject, reply, data, headers))

        await inbound.subscribe("flaky", flaky)
        await nc.publish("flaky", b"boom")
        await nc.publish("flaky", b"fine")
        await wait_for(lambda: got)
        assert got[0][2] == b"fine" and nc.is_connected
        assert "handling a message on flaky failed" in caplog.text
    finally:
        await nc.close()


async def test_other_subscriptions_of_the_connection_go_through_nats_py_unchanged(
    nats_server: NATSServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        inbound = Inbound(nc)
        ours: Got = []
        theirs: list[Any] = []

        async def plain(msg: Any) -> None:
            theirs.append(msg)

        await inbound.subscribe("mixed.ours", recorder(ours))
        await nc.subscribe("mixed.theirs", cb=plain)
        await nc.publish("mixed.theirs", b"t", headers={"a": "b"})
        await nc.publish("mixed.ours", b"o")
        await wait_for(lambda: ours and theirs)
        assert theirs[0].data == b"t" and theirs[0].headers == {"a": "b"}
        assert ours[0][2] == b"o"
        # nats-py's own request/reply still works on the same connection.
        async def echo(msg: Any) -> None:
            await msg.respond(msg.data)

        await nc.subscribe("mixed.echo", cb=echo)
        assert (await nc.request("mixed.echo", b"hi", timeout=5)).data == b"hi"
    finally:
        await nc.close()


async def test_after_unsubscribe_the_handler_gets_nothing(nats_server: NATSServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        inbound = Inbound(nc)
        got: Got = []
        sub = await inbound.subscribe("gone", recorder(got))
        await nc.publish("gone", b"1")
        await wait_for(lambda: got)
        await inbound.unsubscribe(sub)
        await nc.publish("gone", b"2")
        await nc.flush()
        await asyncio.sleep(0.1)
        assert [d for _, _, d, _ in got] == [b"1"]
    finally:
        await nc.close()


class _PublicOnly:
    """A client with nats-py's public API only (a nats-py without the internals used)."""

    def __init__(self, nc: Any) -> None:
        self.subscribe = nc.subscribe


async def test_without_the_internals_delivery_goes_through_nats_py_subscriptions(
    nats_server: NATSServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        inbound = Inbound(_PublicOnly(nc))
        assert not inbound.direct
        got: Got = []
        await inbound.subscribe("public", recorder(got))
        await nc.publish("public", b"x", reply="r", headers={"type": "Ping"})
        await wait_for(lambda: got)
        assert got == [("public", "r", b"x", {"type": "Ping"})]
    finally:
        await nc.close()


class _Recorder:
    """Stands in for the client behind a nats-py parser: records what the parser hands on."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes,
                           headers: bytes | None) -> None:
        self.calls.append(("msg", sid, bytes(subject), bytes(reply), data, headers))

    async def _process_ping(self) -> None:
        self.calls.append(("ping",))

    async def _process_pong(self) -> None:
        self.calls.append(("pong",))

    async def _process_info(self, info: dict[str, Any]) -> None:
        self.calls.append(("info", info))

    async def _process_err(self, err: str) -> None:
        self.calls.append(("err", err))


def msg(subject: str, sid: int, payload: bytes, reply: str = "", sep: str = " ") -> bytes:
    args = sep.join(x for x in ("MSG", subject, str(sid), reply, str(len(payload))) if x)
    return f"{args}\r\n".encode() + payload + b"\r\n"


def hmsg(subject: str, sid: int, head: bytes, payload: bytes, reply: str = "") -> bytes:
    sizes = f"{len(head)} {len(head) + len(payload)}"
    args = " ".join(x for x in ("HMSG", subject, str(sid), reply, sizes) if x)
    return f"{args}\r\n".encode() + head + payload + b"\r\n"


STREAM = b"".join([
    msg("a.b", 1, b"hello"),
    msg("a.b", 1, b"MSG x\r\n", reply="_INBOX.x.1"),
    hmsg("coagent.n.node.echo.s1", 2, b"NATS/1.0\r\ntype: Ping\r\n\r\n", b"{}", reply="_INBOX.y.2"),
    b"PING\r\n",
    hmsg("r", 3, b"NATS/1.0 503\r\n\r\n", b""),
    b"+OK\r\n",
    msg("empty", 4, b""),
    b'INFO {"server_id":"x","max_payload":1048576}\r\n',
    hmsg("hdr.only", 5, b"NATS/1.0\r\n\r\n", b"", reply="reply.to"),
    b"PONG\r\n",
    msg("spaced", 6, b"HMSG 1 ", sep=" \t "),
    b"-ERR 'Permissions Violation'\r\n",
    msg("last", 7, b"end"),
])


async def feed(parser: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        await parser.parse(chunk)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *cuts})
    return [data[a:b] for a, b in itertools.pairwise(points)]


async def parse_both(chunks: list[bytes]) -> tuple[list[Any], list[Any]]:
    from nats.protocol.parser import Parser

    from coagent.transport.nats.inbound import MessageParser

    theirs, ours = _Recorder(), _Recorder()
    plain, fast = Parser(theirs), Parser(ours)
    assert MessageParser.fits(fast)
    fast.parse = MessageParser(fast)  # type: ignore[method-assign]
    await feed(plain, chunks)
    await feed(fast, chunks)
    return theirs.calls, ours.calls


async def test_the_message_parser_hands_on_what_nats_pys_parser_does_for_every_split_point() -> None:
    whole, _ = await parse_both([STREAM])
    assert sum(1 for c in whole if c[0] == "msg") == 8
    for cut in range(1, len(STREAM)):
        theirs, ours = await parse_both(split(STREAM, [cut]))
        assert ours == theirs == whole, f"split at {cut}"


async def test_the_message_parser_agrees_with_nats_py_byte_by_byte_and_in_random_pieces() -> None:
    import random

    theirs, ours = await parse_both([STREAM[i:i + 1] for i in range(len(STREAM))])
    assert ours == theirs
    rng = random.Random(9)
    for _ in range(200):
        cuts = [rng.randrange(1, len(STREAM)) for _ in range(rng.randrange(1, 12))]
        theirs, ours = await parse_both(split(STREAM, cuts))
        assert ours == theirs


@pytest.mark.parametrize("line", [
    b"MSG a 1 x\r\n", b"MSG a 1 -3\r\n", b"HMSG a 1 9 4\r\nxxxx\r\n", b"MSG a\r\n", b"HMSG a 1 2 3 4 5\r\n",
])
async def test_a_malformed_message_line_fails_as_nats_py_fails_it(line: bytes) -> None:
    from nats.errors import ProtocolError
    from nats.protocol.parser import Parser

    from coagent.transport.nats.inbound import MessageParser

    outcomes = []
    for install in (False, True):
        ps = Parser(_Recorder())
        if install:
            ps.parse = MessageParser(ps)  # type: ignore[method-assign]
        try:
            await ps.parse(line + b"PING\r\n")
            outcomes.append(("ok", ps.nc.calls))
        except ProtocolError as exc:
            outcomes.append(("error", type(exc)))
    assert outcomes[0] == outcomes[1]
