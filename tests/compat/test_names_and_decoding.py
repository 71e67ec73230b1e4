"""The original Coagent's names and small behaviours: imports, log levels, addresses, decoding."""

from __future__ import annotations

import logging

import pytest
from pydantic import Field

import coagent.core as core
from coagent.core import Address, Message, RawMessage, set_stderr_logger
from coagent.errors import (
    AgentCrashed,
    AgentNotFound,
    CoagentError,
    DeadlineExceeded,
    InvalidAddress,
    MessageDecodeError,
)
from coagent.testing import free_port

ORIGINAL_CORE_NAMES = [
    "BaseAgent", "Context", "handler", "DiscoveryQuery", "DiscoveryReply", "logger",
    "set_stderr_logger", "Message", "GenericMessage", "SetReplyAgent", "StopIteration", "Address",
    "AgentSpec", "Constructor", "Channel", "MessageHeader", "new", "RawMessage", "Subscription",
    "idle_loop",
]


@pytest.mark.parametrize("name", ORIGINAL_CORE_NAMES)
def test_coagent_core_exports_every_name_of_the_original(name: str) -> None:
    assert getattr(core, name) is not None
    assert name in core.__all__


def test_the_original_module_paths_import() -> None:
    from coagent.agents import AggregationResult, RunContext, confirm, submit  # noqa: F401
    from coagent.agents.chat_agent import (  # noqa: F401
        ChatAgent,
        ChatHistory,
        ChatMessage,
        StreamChatAgent,
    )
    from coagent.core.messages import Cancel, ControlMessage
    from coagent.core.util import exit_loop  # noqa: F401

    assert issubclass(Cancel, ControlMessage) and issubclass(ControlMessage, Message)
    assert core.BaseAgent is core.Actor
    assert core.Constructor is type(core.new(core.BaseAgent))


def test_the_original_error_names_are_our_error_classes() -> None:
    from coagent.core import exceptions

    assert exceptions.BaseError is CoagentError
    assert exceptions.AgentTypeNotFoundError is AgentNotFound
    assert exceptions.DeadlineExceededError is DeadlineExceeded
    assert exceptions.MessageDecodeError is MessageDecodeError
    assert exceptions.InternalError is AgentCrashed
    assert exceptions.SessionIDEmptyError is InvalidAddress


@pytest.mark.parametrize("level, number", [
    ("TRACE", 5), ("DEBUG", 10), ("INFO", 20), ("SUCCESS", 25), ("WARNING", 30), ("ERROR", 40),
    ("CRITICAL", 50), ("trace", 5),
])
def test_set_stderr_logger_accepts_the_original_level_names(level: str, number: int) -> None:
    root = logging.getLogger()
    before = root.level, list(root.handlers)
    try:
        set_stderr_logger(level)
        assert root.level == number
    finally:
        root.setLevel(before[0])
        root.handlers = before[1]


def test_set_stderr_logger_defaults_to_info_and_names_the_levels_it_knows() -> None:
    root = logging.getLogger()
    before = root.level, list(root.handlers)
    try:
        set_stderr_logger()
        assert root.level == logging.INFO
        with pytest.raises(ValueError, match="TRACE, DEBUG, INFO, SUCCESS"):
            set_stderr_logger("LOUD")
    finally:
        root.setLevel(before[0])
        root.handlers = before[1]


def test_the_logger_has_the_original_trace_and_success_methods(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(5, logger="coagent"):
        core.logger.trace("tracing %s", "x")
        core.logger.success("done")
        core.logger.info("info")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("TRACE", "tracing x"), ("SUCCESS", "done"), ("INFO", "info"),
    ]


def test_http_runtime_is_named_beside_nats_runtime_and_built_with_the_seeds_signature() -> None:
    from coagent.runtimes import HTTPRuntime, HTTPRuntimeUnavailable, NATSRuntime

    # The seed's default server: NATS's well-known client port (the runtime is not started).
    default = f"nats://localhost:{4000 + 222}"
    assert NATSRuntime.from_servers().servers in ([default], default)
    runtime = HTTPRuntime.from_server(f"http://localhost:{free_port()}", "")
    assert runtime.base_url.startswith("http://localhost:") and runtime.runtime_kind == "http"
    with pytest.raises(ValueError, match="http://"):
        HTTPRuntime(f"nats://localhost:{free_port()}")
    assert issubclass(HTTPRuntimeUnavailable, CoagentError)


def test_address_takes_the_original_id_keyword() -> None:
    addr = Address(name="center", id="singleton")
    assert addr == Address("center", "singleton") and addr.id == "singleton"
    assert Address(name="discovery") == Address("discovery", id="")  # the original's empty id
    with pytest.raises(InvalidAddress):
        Address(name="center", id=">")


class AllDefaults(Message):
    n: int = 0
    tag: str = "x"


def test_a_type_whose_fields_all_have_defaults_decodes_from_an_empty_body() -> None:
    assert AllDefaults.decode(RawMessage(header={"type": "AllDefaults"})) == AllDefaults()


class NeedsText(Message):
    text: str


def test_an_empty_body_still_fails_clearly_for_a_required_field() -> None:
    with pytest.raises(MessageDecodeError, match="missing required field `text`"):
        NeedsText.decode(RawMessage(header={"type": "NeedsText"}))


class PydanticStyle(Message):
    content: str = Field(..., description="required, the original's way")
    count: int = Field(default=3, description="with a default")
    tags: list[str] = Field(default_factory=list)


def test_messages_written_with_pydantic_field_defaults_mean_what_they_meant() -> None:
    msg = PydanticStyle(content="hi")
    assert (msg.count, msg.tags) == (3, [])
    assert PydanticStyle.decode(msg.encode()) == msg
    with pytest.raises(MessageDecodeError, match="content"):
        PydanticStyle.decode(RawMessage(header={"type": "PydanticStyle"}, content=b"{}"))


class Carries(Message):
    sender: Address


def test_an_address_inside_a_message_travels_as_the_original_name_and_id() -> None:
    raw = Carries(sender=Address("proxy", "alice")).encode()
    assert raw.content == b'{"sender":{"name":"proxy","id":"alice"}}'
    assert Carries.decode(raw).sender == Address("proxy", "alice")
    with pytest.raises(MessageDecodeError):
        Carries.decode(RawMessage(header={"type": "Carries"}, content=b'{"sender":{"name":"a b"}}'))


def test_message_header_builds_a_raw_header_from_the_original_fields() -> None:
    header = core.MessageHeader(type="Ping", extensions={"trace": 1})
    raw = RawMessage(header=header, content=b"")
    assert raw.type == "Ping" and header.extensions == {"trace": "1"}
    assert header.content_type == "application/json"
