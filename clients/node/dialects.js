/**
 * The two serving protocols a Runtime speaks, each one connection's worth of work.
 *
 *   await serveV1(runtime, [type, ...], onReady);   // returns when the stream ends, throws typed errors
 *   await serveCos(runtime, type, onReady);
 *
 * `/v1/serve` (ours): one SSE stream for every type. `event: ready`, then `event: deliver`
 * `{call, kind: ask|stream|tell, agent, session, type, content, timeout, headers}` per call and
 * `event: cancel {call}`; answers go to `POST /v1/deliveries/{call}` as `{reply}`, `{items, end}`
 * or `{error: {code, message}}`.
 *
 * CoS (the original's): `/runtime/register` per type (an `AgentCreated` per new session), then
 * `/runtime/channel/subscribe` per session, and answers published to each message's reply
 * address, a stream ending with `StopIteration`. It has no cancellation and no error replies: a
 * failed handler answers a message of type `Error` (extensions `{error: <code>}`).
 */
import { CallNotFound, CoagentError } from './errors.js';
import { sseEvents } from './http.js';

const STOP = { header: { type: 'StopIteration' } };

function isAsyncIterable(x) {
  return x !== null && typeof x === 'object' && typeof x[Symbol.asyncIterator] === 'function';
}

/** A handler's reply as `{type, content, headers?}`; a bare type name is a message of defaults. */
export function toItem(reply) {
  if (typeof reply === 'string') return { type: reply, content: {} };
  if (!reply || typeof reply !== 'object' || typeof reply.type !== 'string' || !reply.type) {
    throw new TypeError(`a reply is {type: "<MessageType>", content: {...}}, got ${JSON.stringify(reply)}`);
  }
  const item = { type: reply.type, content: reply.content ?? {} };
  if (reply.headers) item.headers = reply.headers;
  return item;
}

/** The typed error body for what a handler threw. */
export function errorOf(err) {
  if (err instanceof CoagentError) return { code: err.code, message: err.message, details: err.details ?? {} };
  return { code: 'agent_crashed', message: `${err?.name ?? 'Error'}: ${err?.message ?? err}`, details: {} };
}

/** The gateway's CoS message (content a JSON string) as a handler sees it. */
export function fromCos(raw) {
  const header = raw.header ?? {};
  let content = raw.content ?? '';
  if ((header.content_type ?? 'application/json') === 'application/json') content = content === '' ? {} : JSON.parse(content);
  return { type: header.type, content, headers: header.extensions ?? {} };
}

/** A reply in the CoS shape; a message that already has a `header` passes as it is. */
export function toCos(reply) {
  if (reply && typeof reply === 'object' && reply.header) return reply;
  const item = toItem(reply);
  const header = { type: item.type };
  if (item.headers) header.extensions = item.headers;
  return { header, content: JSON.stringify(item.content) };
}

/** Runs each session's messages one at a time, in order (an actor's mailbox). */
class Sessions {
  constructor() { this.tails = new Map(); }

  run(key, job) {
    const tail = (this.tails.get(key) ?? Promise.resolve()).then(job, job);
    this.tails.set(key, tail);
    tail.finally(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return tail;
  }
}

// ------------------------------------------------------------------------ ours: /v1/serve

/**
 * Posts a stream's items as they come; while one post is in flight the next items gather, so a
 * fast handler costs one request per batch rather than per item.
 */
class Poster {
  constructor(rt, call, signal) {
    this.rt = rt;
    this.path = `/v1/deliveries/${encodeURIComponent(call)}`;
    this.signal = signal;
    this.items = [];
    this.flight = null;
    this.failed = null;
  }

  async post(body) {
    const { done } = await this.rt.conn.request('POST', this.path, {
      body, timeout: this.rt.publishTimeout, signal: this.signal,
    });
    done();
  }

  async add(item) {
    if (this.failed) throw this.failed;
    this.items.push(item);
    if (this.flight) {
      if (this.items.length >= 256) await this.flight; // bounded: a slow gateway slows the handler
      return;
    }
    this.flight = this._drain();
  }

  async _drain() {
    try {
      while (this.items.length) {
        const items = this.items.splice(0);
        await this.post({ items });
      }
    } catch (err) {
      this.failed = err;
    } finally {
      this.flight = null;
    }
  }

  async end() {
    while (this.flight) await this.flight;
    if (this.failed) throw this.failed;
    await this.post({ items: this.items.splice(0), end: true });
  }
}

export async function serveV1(rt, types, onReady) {
  const byName = new Map(types.map((t) => [t.name, t]));
  const inflight = new Map();
  const sessions = new Sessions();
  const { resp, done, why } = await rt.conn.request('POST', '/v1/serve', {
    body: { agents: types.map((t) => ({ name: t.name, description: t.description })), node: rt.node },
    signal: rt.abort.signal,
  });
  try {
    for await (const ev of sseEvents(resp, why, { idle: rt.idleTimeout })) {
      if (ev.event === 'ready') {
        onReady();
      } else if (ev.event === 'deliver') {
        const d = JSON.parse(ev.data);
        const type = byName.get(d.agent);
        if (!type) continue;
        const abort = new AbortController();
        const timer = d.timeout > 0 ? setTimeout(() => abort.abort(), d.timeout * 1000) : null;
        if (d.call) inflight.set(d.call, abort);
        sessions.run(`${d.agent}\u0000${d.session}`, () => handleV1(rt, type, d, abort.signal)).finally(() => {
          clearTimeout(timer);
          if (d.call) inflight.delete(d.call);
        });
      } else if (ev.event === 'cancel') {
        inflight.get(JSON.parse(ev.data).call)?.abort();
      }
    }
  } finally {
    done();
    // The stream is gone, and with it every call in flight (the gateway failed them at once).
    for (const abort of inflight.values()) abort.abort();
  }
}

async function handleV1(rt, type, d, signal) {
  if (signal.aborted) return;
  const msg = { type: d.type, content: d.content ?? {}, headers: d.headers ?? {} };
  const ctx = { agent: d.agent, session: d.session, signal, deadline: Date.now() + (d.timeout || 0) * 1000, sender: d.sender };
  const path = `/v1/deliveries/${encodeURIComponent(d.call)}`;
  const answer = async (body) => {
    const { done } = await rt.conn.request('POST', path, { body, timeout: rt.publishTimeout, signal: rt.abort.signal });
    done();
  };
  try {
    const result = type.handler(msg, ctx);
    if (isAsyncIterable(result)) {
      if (d.kind !== 'stream') {
        // An ask of a streaming handler answers with its first item, as everywhere else.
        for await (const item of result) {
          if (d.kind === 'ask') { await answer({ reply: toItem(item) }); return; }
        }
        if (d.kind === 'ask') await answer({ reply: null });
        return;
      }
      const poster = new Poster(rt, d.call, rt.abort.signal);
      for await (const item of result) {
        if (signal.aborted) break; // cancelled: leaving the loop runs the generator's finally
        await poster.add(toItem(item));
      }
      if (!signal.aborted) await poster.end();
      return;
    }
    const reply = await result;
    if (d.kind === 'tell' || signal.aborted) return;
    await answer({ reply: reply === undefined || reply === null ? null : toItem(reply) });
  } catch (err) {
    if (signal.aborted || rt.abort.signal.aborted || err instanceof CallNotFound) return;
    rt.log('warn', `${d.agent}/${d.session}: the handler of ${d.type} failed: ${err?.stack ?? err}`);
    if (d.kind === 'tell') return;
    try {
      await answer({ error: errorOf(err) });
    } catch (e) {
      rt.log('debug', `could not report the failure: ${e.message}`);
    }
  }
}

// ------------------------------------------------------------------------ the original's CoS

export async function serveCos(rt, type, onReady) {
  const sessions = new Map();
  const { resp, done, why } = await rt.conn.request('POST', '/runtime/register', {
    body: { name: type.name, description: type.description }, signal: rt.abort.signal,
  });
  onReady();
  try {
    for await (const ev of sseEvents(resp, why, { idle: rt.idleTimeout })) {
      if (ev.event !== 'message') continue;
      const raw = JSON.parse(ev.data);
      const addr = raw.header?.type === 'AgentCreated' || raw.header?.type === 'AgentDeleted'
        ? JSON.parse(raw.content).addr : null;
      if (!addr) continue;
      const key = `${addr.name}\u0000${addr.id ?? ''}`;
      sessions.get(key)?.abort(); // deleted, or created again: the new subscription wins
      sessions.delete(key);
      if (raw.header.type === 'AgentCreated') {
        const abort = new AbortController();
        sessions.set(key, abort);
        cosSession(rt, type, addr, abort.signal).finally(() => {
          if (sessions.get(key) === abort) sessions.delete(key);
        });
      }
    }
  } finally {
    done();
    for (const abort of sessions.values()) abort.abort();
  }
}

async function cosSession(rt, type, addr, sessionSignal) {
  // One signal for "the session ended or the runtime stopped" (AbortSignal.any needs Node 20.3).
  const both = new AbortController();
  const stop = () => both.abort();
  for (const s of [sessionSignal, rt.abort.signal]) {
    if (s.aborted) both.abort();
    else s.addEventListener('abort', stop, { once: true });
  }
  const signal = both.signal;
  const ctx = { agent: addr.name, session: addr.id ?? '', signal, deadline: 0 };
  try {
    const { resp, done, why } = await rt.conn.request('POST', '/runtime/channel/subscribe', { body: { addr }, signal });
    try {
      for await (const ev of sseEvents(resp, why, { idle: rt.idleTimeout })) {
        if (ev.event !== 'message') continue;
        const raw = JSON.parse(ev.data);
        const kind = raw.header?.type;
        if (kind === 'AgentStarted' || kind === 'AgentStopped') continue;
        await handleCos(rt, type, raw, ctx);
      }
    } finally {
      done();
    }
  } catch (err) {
    // The session ends with its stream; new sessions come through the registration.
    if (!signal.aborted) rt.log('debug', `session ${addr.name}/${addr.id}: ${err.message}`);
  } finally {
    rt.abort.signal.removeEventListener('abort', stop);
  }
}

async function handleCos(rt, type, raw, ctx) {
  const reply = raw.reply;
  const publish = async (msg) => {
    const { done } = await rt.conn.request('POST', '/runtime/channel/publish', {
      body: { addr: reply, msg }, timeout: rt.publishTimeout, signal: ctx.signal,
    });
    done();
  };
  try {
    const result = type.handler(fromCos(raw), ctx);
    if (isAsyncIterable(result)) {
      for await (const item of result) if (reply) await publish(toCos(item));
      if (reply) await publish(STOP);
      return;
    }
    const value = await result;
    // A handler that returns nothing still answers (StopIteration is "no reply" there).
    if (reply) await publish(value === undefined || value === null ? STOP : toCos(value));
  } catch (err) {
    if (ctx.signal.aborted) return;
    rt.log('warn', `${type.name}/${ctx.session}: the handler of ${raw.header?.type} failed: ${err?.stack ?? err}`);
    if (!reply) return;
    const body = errorOf(err);
    await publish({ header: { type: 'Error', extensions: { error: body.code } }, content: JSON.stringify(body) })
      .catch((e) => rt.log('debug', `could not report the failure: ${e.message}`));
  }
}
