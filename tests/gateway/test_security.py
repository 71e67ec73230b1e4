"""Bearer auth on every endpoint (health excepted), token files, TLS with a self-signed cert."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest

from coagent.gateway import Tokens, tls_context
from coagent.gateway.auth import TokenFileError, token_identity
from tests.gateway.conftest import Served

CALL = "/v1/agents/echo/sessions/s1/call"
PING = {"type": "GPing", "content": {"n": 1}}
PUBLISH = {"addr": {"name": "echo", "id": "s1"}, "msg": {"header": {"type": "GPing"}}, "request": True}

ENDPOINTS = [
    ("POST", CALL, PING), ("POST", "/v1/agents/echo/sessions/s1/stream", PING),
    ("POST", "/v1/agents/echo/sessions/s1/tell", PING), ("POST", "/v1/agents/echo/call", PING),
    ("DELETE", "/v1/calls/abc", None), ("GET", "/v1/agents", None), ("GET", "/v1/tree", None),
    ("GET", "/openapi.json", None), ("POST", "/runtime/channel/publish", PUBLISH),
    ("POST", "/runtime/channel/publish_multi", PUBLISH), ("POST", "/runtime/register", {"name": "x"}),
    ("POST", "/runtime/channel/subscribe", {"addr": {"name": "x"}}),
]


@pytest.fixture
async def locked(serve) -> Served:  # type: ignore[no-untyped-def]
    return await serve(tokens=Tokens(["alpha-token", "beta-token"]))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic alpha-token", "Bearer", "alpha-token"])
async def test_every_endpoint_refuses_a_missing_or_wrong_token_with_401(
    locked: Served, method: str, path: str, body: object, authorization: str | None,
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    r = await locked.client.request(method, path, json=body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert await locked.sessions("echo") == []


@pytest.mark.parametrize("token", ["alpha-token", "beta-token"])
async def test_each_accepted_token_opens_every_endpoint(locked: Served, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for method, path, body in ENDPOINTS:
        # Only the status: the serving endpoints answer with streams that stay open.
        async with locked.client.stream(method, path, json=body, headers=headers) as r:
            assert r.status_code not in (401, 403), path
    r = await locked.client.post(CALL, json=PING, headers=headers)
    assert r.json() == {"type": "GPong", "content": {"n": 1}}


async def test_health_needs_no_token(locked: Served) -> None:
    r = await locked.client.get("/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_call_ids_are_scoped_to_the_token_that_made_them(locked: Served) -> None:
    import asyncio

    from tests.gateway.agents import EVENTS
    from tests.gateway.conftest import eventually

    alpha = {"Authorization": "Bearer alpha-token", "Coagent-Call-Id": "c1"}
    call = asyncio.ensure_future(locked.client.post(
        CALL, json={"type": "GSleep", "content": {"seconds": 30, "tag": "x"}}, headers=alpha))
    await eventually(lambda: EVENTS.get("x") == ["started"])
    other = await locked.client.delete("/v1/calls/c1", headers={"Authorization": "Bearer beta-token"})
    assert other.json()["state"] == "unknown"
    mine = await locked.client.delete("/v1/calls/c1", headers={"Authorization": "Bearer alpha-token"})
    assert mine.json()["state"] == "cancelled"
    assert (await call).status_code == 499


def test_a_token_file_holds_several_tokens_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text("# the ops team\nalpha\n\n  beta  \n# retired: gamma\n")
    tokens = Tokens.from_file(path)
    assert len(tokens) == 2
    assert tokens.check("Bearer alpha") == token_identity("alpha")
    assert tokens.check("bearer beta") == token_identity("beta")
    from coagent.gateway.errors import Unauthorized

    with pytest.raises(Unauthorized):
        tokens.check("Bearer gamma")


def test_an_empty_or_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(TokenFileError, match="holds no token"):
        Tokens.from_file(empty)
    with pytest.raises(TokenFileError, match="cannot read"):
        Tokens.from_file(tmp_path / "absent.txt")


def make_self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_tls_serves_https_with_a_certificate_and_key(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cert, key = make_self_signed(tmp_path)
    served = await serve(_ssl=tls_context(str(cert), str(key)), tokens=Tokens(["t"]))
    assert served.url.startswith("https://127.0.0.1:")
    trust = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(base_url=served.url, verify=trust) as client:
        r = await client.post(CALL, json=PING, headers={"Authorization": "Bearer t"})
        assert r.status_code == 200 and r.json()["content"] == {"n": 1}
    async with httpx.AsyncClient(base_url=served.url) as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get("/v1/health")
    async with httpx.AsyncClient(base_url=served.url.replace("https", "http")) as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.get("/v1/health")
