"""The OpenAPI 3.1 document of the gateway, served at ``/openapi.json``.

::

    from coagent.gateway.openapi import document
    document()["paths"]["/v1/agents/{name}/sessions/{session}/call"]["post"]["summary"]

Over 400 lines of data, not logic: the document is one literal structure, kept whole so
that it reads like the API it describes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["document"]

_REF = "#/components/"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{_REF}{kind}/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("schemas", "Error")}}}


_ERRORS = {
    "400": _error("Malformed JSON, an unknown message type, an invalid address or header; nothing reached an agent."),
    "401": _error("No accepted bearer token (only when the gateway runs with --auth)."),
    "404": _error("No such agent type (agent_not_found) or endpoint (endpoint_not_found)."),
    "408": _error("The request body did not arrive in time (request_timeout)."),
    "413": _error("The body is larger than the gateway's limit (message_too_large)."),
    "429": {**_error("The agent's mailbox is full or it has too many sessions; retry after Retry-After seconds."),
            "headers": {"Retry-After": _ref("headers", "Retry-After")}},
    "499": _error("The call was cancelled with DELETE /v1/calls/{call_id} (call_cancelled)."),
    "500": _error("The handler raised (agent_crashed; exc_type in details) or the gateway failed. No traceback."),
    "502": _error("The transport to other nodes failed (transport_error)."),
    "503": {**_error("The agent stopped or hit its restart limit; retry after Retry-After seconds."),
            "headers": {"Retry-After": _ref("headers", "Retry-After")}},
    "504": _error("The deadline passed (deadline_exceeded); the handler was cancelled."),
}

_TRACE_PARAMS = [_ref("parameters", "Traceparent"), _ref("parameters", "Tracestate")]
_CALL_PARAMS = [_ref("parameters", "Timeout"), _ref("parameters", "CallId"), *_TRACE_PARAMS]


def _addressed(op: dict[str, Any], with_session: bool) -> dict[str, Any]:
    params = [_ref("parameters", "Name")]
    if with_session:
        params.append(_ref("parameters", "Session"))
    out = dict(op)
    out["parameters"] = params + op.get("parameters", [])
    if not with_session:
        out["operationId"] = op["operationId"] + "NewSession"
        out["summary"] = op["summary"] + " (in a fresh session, named in Coagent-Session)"
    return out


_BODY = {"required": True, "content": {"application/json": {"schema": _ref("schemas", "Message")}}}
_SESSION_OUT = {"Coagent-Session": _ref("headers", "Coagent-Session"),
                "Coagent-Call-Id": _ref("headers", "Coagent-Call-Id")}

_CALL = {
    "operationId": "call",
    "summary": "Ask the agent and wait for its reply",
    "parameters": _CALL_PARAMS,
    "requestBody": _BODY,
    "responses": {
        "200": {"description": "The reply.", "headers": _SESSION_OUT,
                "content": {"application/json": {"schema": _ref("schemas", "Message")}}},
        "204": {"description": "The handler returned nothing.", "headers": _SESSION_OUT},
        **_ERRORS,
    },
}

_STREAM = {
    "operationId": "stream",
    "summary": "Stream the agent's replies as Server-Sent Events",
    "description": (
        "The response starts with the first reply, so an error before any reply comes with its own "
        "status and JSON body. Then each reply is an event `message` whose data is a Message; the "
        "stream ends with an event `end` (data `{\"count\": n}`) or `error` (data: an Error). Every "
        "event has an `id` counting from 1. A quiet stream sends an SSE comment (`: keep-alive`) every "
        "15 s. Disconnecting cancels the agent's handler."
    ),
    "parameters": _CALL_PARAMS,
    "requestBody": _BODY,
    "responses": {
        "200": {"description": "The event stream.", "headers": _SESSION_OUT,
                "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **_ERRORS,
    },
}

_TELL = {
    "operationId": "tell",
    "summary": "Deliver a message without waiting for a reply",
    "description": "With Idempotency-Key, a repeat of the same request within the gateway's window "
                   "is answered 202 with Idempotent-Replayed: true and not delivered again.",
    "parameters": [_ref("parameters", "Timeout"), _ref("parameters", "IdempotencyKey"), *_TRACE_PARAMS],
    "requestBody": _BODY,
    "responses": {
        "202": {"description": "Delivered to the agent's mailbox (or a replay of a delivered one).",
                "headers": {"Coagent-Session": _ref("headers", "Coagent-Session")},
                "content": {"application/json": {"schema": _ref("schemas", "Accepted")}}},
        "422": _error("The Idempotency-Key was used with another address or body."),
        **_ERRORS,
    },
}


def _a2a_paths() -> dict[str, Any]:
    """The A2A endpoints (their protocol is A2A's own JSON-RPC; see coagent/gateway/a2a.py)."""
    tag = ["A2A"]
    card = {"get": {
        "operationId": "", "tags": tag, "security": [],
        "summary": "An A2A agent card (needs no token; declares the bearer scheme when one is needed)",
        "responses": {"200": _json_ok("The agent card (A2A 1.0).", {"type": "object"}),
                      "404": _ERRORS["404"]},
    }}
    rpc = {"post": {
        "operationId": "", "tags": tag,
        "summary": "A2A JSON-RPC: SendMessage, SendStreamingMessage (SSE), GetTask, ListTasks, CancelTask",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": {"description": "A JSON-RPC response, or an SSE stream of them.",
                              "content": {"application/json": {"schema": {"type": "object"}},
                                          "text/event-stream": {"schema": {"type": "string"}}}},
                      "401": _ERRORS["401"], "404": _ERRORS["404"], "413": _ERRORS["413"]},
    }}
    name = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    out: dict[str, Any] = {}
    for path, op, op_id, params in (
        ("/.well-known/agent-card.json", card, "a2aGatewayCard", []),
        ("/a2a/.well-known/agent-card.json", card, "a2aGatewayCardAlias", []),
        ("/a2a/{name}/.well-known/agent-card.json", card, "a2aAgentCard", name),
        ("/a2a", rpc, "a2aRpc", []),
        ("/a2a/{name}", rpc, "a2aAgentRpc", name),
    ):
        method, body = next(iter(op.items()))
        entry: dict[str, Any] = {**body, "operationId": op_id}
        if params:
            entry["parameters"] = params
        out[path] = {method: entry}
    return out


def _json_ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_COS_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _ref("schemas", "CosPublish")}},
}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (a plain dict, built once)."""
    paths: dict[str, Any] = {}
    for with_session in (True, False):
        base = "/v1/agents/{name}" + ("/sessions/{session}" if with_session else "")
        paths[base + "/call"] = {"post": _addressed(_CALL, with_session)}
        paths[base + "/stream"] = {"post": _addressed(_STREAM, with_session)}
        paths[base + "/tell"] = {"post": _addressed(_TELL, with_session)}
    paths["/v1/calls/{call_id}"] = {"delete": {
        "operationId": "cancel",
        "summary": "Cancel a call or stream in flight (idempotent)",
        "description": "The call's handler is cancelled and its client gets 499 (or an `error` event). "
                       "Repeating the request gives the same answer; `finished` and `unknown` cancel nothing.",
        "parameters": [{"name": "call_id", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}}],
        "responses": {"200": _json_ok("What became of the call.", _ref("schemas", "Cancelled")),
                      "400": _ERRORS["400"], "401": _ERRORS["401"]},
    }}
    paths["/v1/agents"] = {"get": {
        "operationId": "agents", "summary": "List the agent types reachable through this gateway",
        "responses": {"200": _json_ok("The agent types.", _ref("schemas", "Agents")), "401": _ERRORS["401"]},
    }}
    paths["/v1/tree"] = {"get": {
        "operationId": "tree", "summary": "The supervision tree of every node",
        "responses": {"200": _json_ok("One tree per node.", {
            "type": "object", "required": ["nodes"],
            "properties": {"nodes": {"type": "array", "items": {"type": "object"}}}}),
            "401": _ERRORS["401"]},
    }}
    paths["/v1/health"] = {"get": {
        "operationId": "health", "summary": "Health (needs no token)", "security": [],
        "responses": {
            "200": _json_ok("Up.", {"type": "object", "properties": {"status": {"const": "ok"}}}),
            "503": {**_json_ok("A NATS node without its server.", {"type": "object", "properties": {
                "status": {"const": "unavailable"}, "reason": {"type": "string"}}}),
                "headers": {"Retry-After": _ref("headers", "Retry-After")}},
        },
    }}
    paths["/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document",
        "responses": {"200": _json_ok("The OpenAPI document.", {"type": "object"}), "401": _ERRORS["401"]},
    }}
    for path, (op, summary, media) in {
        "/": ("webPage", "The web page: live tree, agent types, chat (needs no token)", "text/html"),
        "/ui/app.js": ("webPageScript", "The web page's script", "text/javascript"),
        "/ui/style.css": ("webPageStyle", "The web page's style sheet", "text/css"),
    }.items():
        paths[path] = {"get": {"operationId": op, "summary": summary, "security": [], "responses": {
            "200": {"description": "The file.", "content": {media: {"schema": {"type": "string"}}}}}}}
    cos_errors = {"400": _ERRORS["400"], "401": _ERRORS["401"], "413": _ERRORS["413"],
                  "404": _error("Any error of the call itself, as the original answered it.")}
    paths["/runtime/channel/publish"] = {"post": {
        "operationId": "cosPublish", "tags": ["CoS (the original's protocol)"],
        "summary": "The original Coagent's publish",
        "parameters": [_ref("parameters", "Timeout"), *_TRACE_PARAMS],
        "requestBody": _COS_BODY,
        "responses": {"200": _json_ok("The reply (request: true).", _ref("schemas", "RawMessage")),
                      "204": {"description": "Delivered (request: false), or no reply."}, **cos_errors},
    }}
    paths["/runtime/channel/publish_multi"] = {"post": {
        "operationId": "cosPublishMulti", "tags": ["CoS (the original's protocol)"],
        "summary": "The original Coagent's streamed publish",
        "description": "SSE: each reply is an unnamed event whose data is a RawMessage; a failure is an "
                       "event `error` whose data is an Error; the stream ends by closing.",
        "parameters": [_ref("parameters", "Timeout"), *_TRACE_PARAMS],
        "requestBody": _COS_BODY,
        "responses": {"200": {"description": "The event stream.",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}}, **cos_errors},
    }}
    sse = {"description": "The event stream (stays open).",
           "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    serving_errors = {"400": _ERRORS["400"], "401": _ERRORS["401"], "413": _ERRORS["413"],
                      "409": _error("The agent type is already served (agent_already_registered).")}
    paths["/runtime/register"] = {"post": {
        "operationId": "cosRegister", "tags": ["CoS (the original's protocol)"],
        "summary": "Serve an agent type from this connection (the original's register)",
        "description": "SSE: for each new session of the type an unnamed event whose data is a RawMessage "
                       "of type AgentCreated with content {\"addr\": CosAddress}; AgentDeleted when the session "
                       "ends. Closing the stream deregisters the type; its calls in flight fail at once "
                       "(agent_disconnected).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                           "durable": {"type": "boolean", "default": False, "description":
                                       "Not in the original's protocol: durable delivery (tells stored by "
                                       "the gateway, acknowledged by the answer to their reply topic, "
                                       "at least once); 500 store_required on a gateway without a store."}}}}}},
        "responses": {"200": sse, **serving_errors},
    }}
    paths["/runtime/channel/subscribe"] = {"post": {
        "operationId": "cosSubscribe", "tags": ["CoS (the original's protocol)"],
        "summary": "Receive every message of one CoS session",
        "description": "SSE of RawMessages; one with a `reply` address wants an answer published to it "
                       "(/runtime/channel/publish; a stream: one publish per item, then StopIteration). "
                       "Messages wait in a bounded mailbox while no subscriber is connected, for the "
                       "gateway's reconnect grace; a newer subscriber replaces an older one.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["addr"], "properties": {"addr": _ref("schemas", "CosAddress")}}}}},
        "responses": {"200": sse, "404": _error("No such CoS session (agent_not_found)."), **serving_errors},
    }}
    paths["/v1/serve"] = {"post": {
        "operationId": "serve", "tags": ["Serving agents"],
        "summary": "Serve agent types from this process: one long-lived stream of deliveries",
        "description": "SSE. First an event `ready` (data {\"provider\", \"agents\", \"node\"}); then an "
                       "event `deliver` per call (data: a Delivery) and an event `cancel` (data "
                       "{\"call\": id}) when a caller gives up. Answer a delivery with POST "
                       "/v1/deliveries/{call}; a `tell` delivery has no call id and wants no answer. "
                       "Closing the stream deregisters the types and fails their calls in flight at once "
                       "(agent_disconnected). A process that reconnects with the same `node` replaces "
                       "its old stream.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("schemas", "Serve")}}},
        "responses": {"200": sse, **serving_errors},
    }}
    paths["/v1/serve/{provider}/answers"] = {"post": {
        "operationId": "answers", "tags": ["Serving agents"],
        "summary": "Answer many delivered calls over one long-lived request",
        "description": "The body is streamed (chunked) JSON lines, one Answer each with its `call` id "
                       "added; the gateway applies each line as it arrives, for as long as the provider's "
                       "/v1/serve stream lives (`provider` is in its `ready` event). Lines up to 64 kB; "
                       "larger answers and stream items go to /v1/deliveries/{call}. Answers 204 at the end.",
        "parameters": [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
        "responses": {"204": {"description": "The body ended."},
                      "404": _error("No such provider (call_not_found)."),
                      "400": _ERRORS["400"], "401": _ERRORS["401"]},
    }}
    paths["/v1/deliveries/{call_id}"] = {"post": {
        "operationId": "answer", "tags": ["Serving agents"],
        "summary": "Answer a delivered call: a reply, stream items (and the end), or an error",
        "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("schemas", "Answer")}}},
        "responses": {"204": {"description": "Taken."},
                      "404": _error("No such call in flight (call_not_found): it ended or was cancelled."),
                      "400": _ERRORS["400"], "401": _ERRORS["401"], "413": _ERRORS["413"]},
    }}
    paths.update(_a2a_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Coagent gateway",
            "version": "1",
            "description": "Call, stream and tell Coagent agents over HTTP. Errors are "
                           "`{\"code\", \"message\"}` with the stable codes of coagent.errors.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": _components(),
    }


def _components() -> dict[str, Any]:
    token = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "Required when the gateway runs with --auth or --auth-file."}},
        "parameters": {
            "Name": {"name": "name", "in": "path", "required": True, "description": "Agent type (dots are namespaces).",
                     "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"}},
            "Session": {"name": "session", "in": "path", "required": True,
                        "schema": {**token, "maxLength": 128}},
            "Timeout": {"name": "Coagent-Timeout", "in": "header", "required": False,
                        "description": "Seconds the call may take (default 60; capped by the gateway's maximum, default 300).",
                        "schema": {"type": "number", "exclusiveMinimum": 0}},
            "CallId": {"name": "Coagent-Call-Id", "in": "header", "required": False,
                       "description": "Your id for this call, to cancel it (default: one chosen by the gateway).",
                       "schema": {**token, "maxLength": 128}},
            "Traceparent": {"name": "traceparent", "in": "header", "required": False,
                            "description": "W3C Trace Context: the call joins this trace (while the gateway traces).",
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"}},
            "Tracestate": {"name": "tracestate", "in": "header", "required": False,
                           "description": "The W3C tracestate that goes with traceparent.",
                           "schema": {"type": "string"}},
            "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
        },
        "headers": {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."},
            "Coagent-Session": {"schema": {"type": "string"}, "description": "The session that served the call."},
            "Coagent-Call-Id": {"schema": {"type": "string"}, "description": "The call's id (for DELETE /v1/calls/{call_id})."},
        },
        "schemas": {
            "Message": {
                "type": "object", "required": ["type"], "additionalProperties": False,
                "properties": {
                    "type": {"type": ["string", "null"], "description": "The message type name (e.g. ChatMessage)."},
                    "content": {"description": "The message's fields (JSON); null or absent: none."},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"},
                                "description": "Extra message headers (requests only)."},
                },
                "example": {"type": "Ping", "content": {"n": 1}},
            },
            "Error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string", "examples": ["agent_not_found", "deadline_exceeded"]},
                               "message": {"type": "string"},
                               "details": {"type": "object"}},
            },
            "Accepted": {"type": "object", "required": ["accepted", "replayed"],
                         "properties": {"accepted": {"const": True}, "replayed": {"type": "boolean"}}},
            "Cancelled": {"type": "object", "required": ["call_id", "state"],
                          "properties": {"call_id": {"type": "string"},
                                         "state": {"enum": ["cancelled", "finished", "unknown"]}}},
            "Agents": {"type": "object", "required": ["agents"], "properties": {"agents": {
                "type": "array", "items": {"type": "object", "required": ["name", "description", "nodes"], "properties": {
                    "name": {"type": "string"}, "description": {"type": "string"},
                    "nodes": {"type": "array", "items": {"type": "string"}},
                    "message_types": {"type": ["array", "null"], "items": {"type": "string"},
                                      "description": "Known for agents served by the gateway's own node."},
                }}}}},
            "CosAddress": {"type": "object", "required": ["name"],
                           "properties": {"name": {"type": "string"},
                                          "id": {"type": "string", "description": "Session; empty: a fresh one."}}},
            "RawMessage": {
                "type": "object", "required": ["header"],
                "properties": {
                    "header": {"type": "object", "required": ["type"], "properties": {
                        "type": {"type": "string"},
                        "content_type": {"type": "string", "default": "application/json"},
                        "extensions": {"type": "object"}}},
                    "reply": _ref("schemas", "CosAddress"),
                    "content": {"type": "string", "description": "The message body: JSON as a string."},
                },
            },
            "Serve": {
                "type": "object", "required": ["agents"], "additionalProperties": False,
                "properties": {
                    "agents": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["name"], "additionalProperties": False,
                        "properties": {"name": {"type": "string"}, "description": {"type": "string"}}}},
                    "node": {"type": "string", "description": "This process's node name (reconnects replace)."},
                },
                "example": {"agents": [{"name": "echo", "description": "Echoes."}], "node": "worker-1"},
            },
            "Delivery": {
                "type": "object", "required": ["call", "kind", "agent", "session", "type", "content", "timeout"],
                "properties": {
                    "call": {"type": "string", "description": "Answer to /v1/deliveries/{call} (empty for a tell)."},
                    "kind": {"enum": ["ask", "stream", "tell"]},
                    "agent": {"type": "string"}, "session": {"type": "string"},
                    "type": {"type": "string"}, "content": {"description": "The message's fields (JSON)."},
                    "timeout": {"type": "number", "description": "Seconds left before the caller's deadline."},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "sender": {"type": "string", "description": "The calling actor's address, if any."},
                    "traceparent": {"type": "string", "description": "W3C Trace Context of the call "
                                    "(while the gateway traces): the handler span's parent."},
                    "tracestate": {"type": "string", "description": "The W3C tracestate of the call."},
                },
            },
            "Answer": {
                "type": "object", "additionalProperties": False,
                "description": "Exactly one of: reply (a Message, or null for none); items (with end: true "
                               "on the last post of a stream); error.",
                "properties": {
                    "reply": {"oneOf": [_ref("schemas", "Message"), {"type": "null"}]},
                    "items": {"type": "array", "items": _ref("schemas", "Message")},
                    "end": {"type": "boolean", "default": False},
                    "error": _ref("schemas", "Error"),
                },
            },
            "CosPublish": {
                "type": "object", "required": ["addr", "msg"],
                "properties": {
                    "addr": _ref("schemas", "CosAddress"), "msg": _ref("schemas", "RawMessage"),
                    "request": {"type": "boolean", "default": False},
                    "reply": {"type": "string", "default": ""},
                    "timeout": {"type": "number", "description": "Seconds (default: the gateway's default, not 0.5)."},
                    "probe": {"type": "boolean", "default": True},
                },
            },
        },
    }
