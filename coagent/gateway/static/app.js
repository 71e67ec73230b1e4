// Coagent's live view: the supervision tree of every node (polled, redrawn without a
// reload), the agent types with their descriptions, and a chat panel that streams a reply
// over the gateway's SSE endpoint. Plain browser JavaScript: no build step, no dependencies.
// Every piece of data goes into the page as text (textContent), never as HTML.
"use strict";

const params = new URLSearchParams(location.search);
const TREE_EVERY = Math.max(100, Number(params.get("interval")) || 1000);
const AGENTS_EVERY = Math.max(500, TREE_EVERY * 5);
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// ------------------------------------------------------------------ auth and fetch

function authHeaders() {
  const token = sessionStorage.getItem("coagent-token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function setStatus(text, error = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

class Unauthorized extends Error {}

async function getJSON(path) {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  if (response.status === 401) throw new Unauthorized("this gateway needs a token");
  const body = await response.json();
  if (!response.ok) throw new Error(body.code ? `${body.code}: ${body.message}` : response.statusText);
  return body;
}

function failed(error) {
  if (error instanceof Unauthorized) {
    $("auth").hidden = false;
    setStatus("a token is needed", true);
  } else {
    setStatus(`unreachable: ${error.message}`, true);
  }
}

$("auth").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("coagent-token", $("token").value);
  $("auth").hidden = true;
  refreshAgents();
  refreshTree();
});

// ------------------------------------------------------------------ the tree

function actorItem(actor) {
  const address = `${actor.name}:${actor.session}`;
  const label = el("span", { class: "label" },
    el("span", { class: "address" }, address),
    el("span", { class: "kind" }, actor.kind),
    el("span", { class: `status ${actor.status}` }, actor.status),
    actor.restarts ? el("span", { class: "restarts" }, `restarts=${actor.restarts}`) : null,
    actor.mailbox ? el("span", { class: "mailbox" }, `mailbox=${actor.mailbox}`) : null,
    actor.last_error ? el("span", { class: "error" }, `last error: ${actor.last_error}`) : null,
  );
  const item = el("li", { class: "actor", "data-address": address, "data-status": actor.status,
                          "data-restarts": String(actor.restarts || 0) }, label);
  if (actor.children && actor.children.length) {
    item.append(el("ul", {}, ...actor.children.map(actorItem)));
  }
  return item;
}

function renderTree(nodes) {
  const list = el("ul", {});
  for (const node of nodes) {
    const agents = el("ul", {});
    for (const agent of node.agents) {
      const label = el("span", { class: "label" }, agent.name,
        el("span", { class: "kind" }, `${agent.kind} · sessions=${agent.sessions.length}`));
      agents.append(el("li", { class: "agent-type", "data-agent": agent.name }, label,
        el("ul", {}, ...agent.sessions.map(actorItem))));
    }
    if (!node.agents.length) agents.append(el("li", { class: "kind" }, "no agents registered"));
    list.append(el("li", { class: "node", "data-node": node.node },
      el("span", { class: "label" }, node.node, el("span", { class: "kind" }, `(${node.runtime})`)),
      agents));
  }
  if (!nodes.length) list.append(el("li", { class: "kind" }, "no nodes answered"));
  $("tree").replaceChildren(list);
}

// Ages change on every poll: leave them out when deciding whether anything changed.
const withoutAges = (key, value) => (key === "age" ? undefined : value);
let lastTree = "";

async function refreshTree() {
  try {
    const body = await getJSON("/v1/tree");
    const shape = JSON.stringify(body.nodes, withoutAges);
    if (shape !== lastTree) {
      lastTree = shape;
      renderTree(body.nodes);
    }
    $("tree-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    setStatus(`live · ${body.nodes.length} node(s)`);
  } catch (error) {
    failed(error);
  }
}

// ------------------------------------------------------------------ agent types

async function refreshAgents() {
  try {
    const body = await getJSON("/v1/agents");
    const items = body.agents.map((agent) => el("li", { "data-agent": agent.name },
      el("span", { class: "name" }, agent.name),
      el("span", { class: "description" }, agent.description || "(no description)"),
      el("span", { class: "nodes" }, `on ${agent.nodes.join(", ") || "?"}` +
        (agent.message_types ? ` · takes ${agent.message_types.join(", ")}` : ""))));
    $("agents").replaceChildren(...items);
    const select = $("chat-agent");
    const chosen = select.value;
    select.replaceChildren(...body.agents.map((agent) => el("option", { value: agent.name }, agent.name)));
    if (chosen && body.agents.some((agent) => agent.name === chosen)) {
      select.value = chosen;
    } else {
      // First time: the first agent that takes chat messages.
      const chatty = body.agents.find((agent) => (agent.message_types || []).includes("ChatMessage"));
      if (chatty) select.value = chatty.name;
    }
  } catch (error) {
    failed(error);
  }
}

// ------------------------------------------------------------------ chat

function addMessage(role, text) {
  const log = $("chat-log");
  const message = el("div", { class: `msg ${role}` }, text);
  log.append(message);
  log.scrollTop = log.scrollHeight;
  return message;
}

function textOf(reply) {
  // A ChatMessage's text (its last one carries only the usage); other types as their JSON.
  const content = reply && reply.content;
  if (reply && reply.type === "ChatMessage") return (content && content.content) || "";
  if (content && typeof content.content === "string") return content.content;
  return content === null || content === undefined ? "" : JSON.stringify(content);
}

async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}

async function send(text) {
  const agent = $("chat-agent").value;
  const session = $("chat-session").value;
  addMessage("user", text);
  const answer = addMessage("assistant streaming", "");
  const url = `/v1/agents/${encodeURIComponent(agent)}/sessions/${encodeURIComponent(session)}/stream`;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
      body: JSON.stringify({ type: "ChatMessage", content: { role: "user", content: text } }),
    });
    if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
      const body = await response.json();
      throw new Error(body.code ? `${body.code}: ${body.message}` : response.statusText);
    }
    await readEvents(response, (event, data) => {
      if (event === "message") {
        answer.textContent += textOf(data);
        const usage = data.content && data.content.usage;
        if (usage) answer.title = `${usage.total_tokens || 0} tokens, $${(usage.cost || 0).toFixed(6)}`;
        $("chat-log").scrollTop = $("chat-log").scrollHeight;
      } else if (event === "error") {
        throw new Error(data.code ? `${data.code}: ${data.message}` : "the stream failed");
      }
    });
  } catch (error) {
    if (!answer.textContent) answer.remove();
    addMessage("error", error.message);
  } finally {
    answer.classList.remove("streaming");
    answer.setAttribute("data-done", "1");
  }
}

$("chat").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send(text);
});

$("chat-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("chat").requestSubmit();
  }
});

$("chat-session").value = `web-${Math.random().toString(36).slice(2, 10)}`;
refreshAgents();
refreshTree();
setInterval(refreshTree, TREE_EVERY);
setInterval(refreshAgents, AGENTS_EVERY);
