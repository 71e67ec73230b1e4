"""Listing agents, the supervision tree, health, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from coagent.gateway.openapi import document
from tests.gateway.conftest import Served


async def test_agents_lists_each_type_with_its_node_and_message_types(served: Served) -> None:
    r = await served.client.get("/v1/agents")
    assert r.status_code == 200
    (agent,) = r.json()["agents"]
    assert agent["name"] == "echo" and agent["description"] == "Echoes pings, counts ticks"
    assert agent["nodes"] == [served.runtime.name]
    assert "GPing" in agent["message_types"] and "GCount" in agent["message_types"]


async def test_the_tree_shows_live_sessions(served: Served) -> None:
    await served.client.post("/v1/agents/echo/sessions/alice/call", json={"type": "GPing"})
    r = await served.client.get("/v1/tree")
    (node,) = r.json()["nodes"]
    assert node["node"] == served.runtime.name and node["runtime"] == "local"
    (agent,) = node["agents"]
    assert [s["session"] for s in agent["sessions"]] == ["alice"]
    assert agent["sessions"][0]["status"] == "idle"


async def test_health_is_ok(served: Served) -> None:
    r = await served.client.get("/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_the_openapi_document_is_served_and_describes_every_route(served: Served) -> None:
    r = await served.client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc == document() and doc["openapi"].startswith("3.1")
    routes = {(route.method.lower(), route.resource.canonical)  # type: ignore[union-attr]
              for route in served.gateway.app.router.routes() if route.method != "HEAD"}
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert routes == described


def test_the_openapi_document_is_valid_and_its_references_resolve() -> None:
    import jsonschema
    from openapi_spec_validator import validate

    doc = document()
    validate(doc)  # type: ignore[arg-type]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict), ref
    # Every schema is itself a valid JSON Schema (OpenAPI 3.1 uses draft 2020-12).
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    ops = [op for ops in doc["paths"].values() for op in ops.values()]
    assert len({op["operationId"] for op in ops}) == len(ops)
    assert all(op.get("summary") and op.get("responses") for op in ops)
