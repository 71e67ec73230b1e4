"""A caller's identity is its token's user name, or a digest of the token: never the token's
line in the token file, so reordering or extending the file changes no message id."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from coagent.core import AgentSpec, new
from coagent.gateway import Gateway, Tokens
from coagent.gateway.auth import TokenFileError, token_identity
from coagent.runtimes import LocalRuntime
from tests.durable.agents import Counter

TELL = "/v1/agents/counter/sessions/c1/tell"
GET = "/v1/agents/counter/sessions/c1/call"


def test_a_line_may_name_the_token_s_user_and_several_tokens_may_name_one(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text("# token  user\nold-alice-token alice\nnew-alice-token   alice\nbot-token\n")
    tokens = Tokens.from_file(path)
    assert tokens.check("Bearer old-alice-token") == tokens.check("Bearer new-alice-token") == "alice"
    assert tokens.check("Bearer bot-token") == token_identity("bot-token")
    assert token_identity("bot-token").startswith("token-") and "bot-token" not in token_identity("bot-token")


@pytest.mark.parametrize(("text", "error"), [
    ("t1 alice extra\n", "expected 'TOKEN' or 'TOKEN USER'"),
    ("t1 al/ice\n", "must match"),
    ("t1 token-123\n", "not start with 'token-'"),
    ("t1 alice\nt1 bob\n", "names another user"),
])
def test_a_malformed_token_file_line_is_a_clear_error(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(text)
    with pytest.raises(TokenFileError, match=error):
        Tokens.from_file(path)


async def _tell_and_total(db: Path, tokens: Tokens, token: str, key: str, n: int) -> dict[str, object]:
    """Start a gateway (a fresh process's memory: no key seen) over the durable counter,
    tell ``Add(n)`` with ``key``, and return the counter's state."""
    runtime = LocalRuntime(store=str(db), default_timeout=10.0)
    async with runtime:
        await runtime.register(AgentSpec("counter", new(Counter), durable=True))
        gateway = Gateway(runtime, tokens=tokens)
        await gateway.start("127.0.0.1", 0)
        try:
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10.0) as client:
                r = await client.post(TELL, json={"type": "Add", "content": {"n": n}},
                                      headers={"Idempotency-Key": key})
                assert r.status_code == 202 and r.json()["replayed"] is False
                total = await client.post(GET, json={"type": "Get", "content": {}})
                content: dict[str, object] = total.json()["content"]
                return content
        finally:
            await gateway.stop()


async def test_a_retry_after_the_token_file_was_reordered_and_extended_is_applied_once(
        tmp_path: Path) -> None:
    db, path = tmp_path / "state.db", tmp_path / "tokens.txt"
    path.write_text("alpha-token\nbeta-token\n")
    first = await _tell_and_total(db, Tokens.from_file(path), "beta-token", "order-1", 5)
    assert first == {"n": 5, "seen": [5]}
    # A new token goes first, the old ones are swapped: beta's retry is still beta's.
    path.write_text("gamma-token\nbeta-token\nalpha-token\n")
    again = await _tell_and_total(db, Tokens.from_file(path), "beta-token", "order-1", 5)
    assert again == {"n": 5, "seen": [5]}
    # Another caller's key of the same name is its own message.
    other = await _tell_and_total(db, Tokens.from_file(path), "alpha-token", "order-1", 7)
    assert other == {"n": 12, "seen": [5, 7]}


async def test_a_retry_with_the_rotated_token_of_the_same_user_is_applied_once(tmp_path: Path) -> None:
    db, path = tmp_path / "state.db", tmp_path / "tokens.txt"
    path.write_text("old-token alice\n")
    assert await _tell_and_total(db, Tokens.from_file(path), "old-token", "k", 3) == {"n": 3, "seen": [3]}
    path.write_text("bob-token bob\nnew-token alice\n")
    assert await _tell_and_total(db, Tokens.from_file(path), "new-token", "k", 3) == {"n": 3, "seen": [3]}
