/**
 * Serve agent types from Node.js: the gateway delivers each session's messages over HTTP.
 *
 *   import { Runtime } from '@coagent/client';
 *   const runtime = new Runtime('http://127.0.0.1:8000', { auth: process.env.COAGENT_TOKEN });
 *   runtime.register('ponger', async (msg, ctx) => ({ type: 'Pong', content: { text: `pong to ${msg.content.text}` } }));
 *   runtime.register('counter', async function* (msg) {
 *     for (let i = 0; i < msg.content.n; i++) yield { type: 'Count', content: { i } };
 *   });
 *   await runtime.start();   // resolves once every type is registered; reconnects on its own
 *   ...
 *   await runtime.stop();
 *
 * A handler gets `{type, content, extensions}` and a context `{session, agent, signal}`; it
 * returns one reply (`{type, content}`, or nothing) or is an async generator of replies (a
 * stream). Each session handles one message at a time, in order, like an actor.
 *
 * The protocol is the one the original Coagent's CoS clients speak, which every `coagent gateway`
 * serves: `POST /runtime/register` (an SSE stream of `AgentCreated` events, one per new session),
 * `POST /runtime/channel/subscribe` (an SSE stream of the session's messages) and replies posted
 * to `/runtime/channel/publish` at the message's reply address (a stream ends with `StopIteration`).
 * When the gateway goes away the register stream ends; the runtime reconnects with exponential
 * backoff and jitter and serves again, without a restart.
 */
import { CoagentError, NotImplementedHere, Unauthorized, BadRequest } from './errors.js';
import { Connection, sseEvents } from './http.js';

const STOP = { header: { type: 'StopIteration' } };
/** Errors that another attempt will not cure: the runtime gives up on the type and says why. */
const FATAL = [Unauthorized, BadRequest, NotImplementedHere];

function isAsyncIterable(x) {
  return x !== null && typeof x === 'object' && typeof x[Symbol.asyncIterator] === 'function';
}

/** The gateway's message (content a JSON string) as a handler sees it. */
export function fromCos(raw) {
  const header = raw.header ?? {};
  let content = raw.content ?? '';
  const ctype = header.content_type ?? 'application/json';
  if (ctype === 'application/json') {
    content = content === '' ? {} : JSON.parse(content);
  }
  return { type: header.type, content, extensions: header.extensions ?? {} };
}

/** A handler's reply in the gateway's shape; a message that already has a `header` passes as is. */
export function toCos(reply) {
  if (reply && typeof reply === 'object' && reply.header) return reply;
  if (typeof reply === 'string') return { header: { type: reply } };
  if (!reply || typeof reply.type !== 'string' || !reply.type) {
    throw new TypeError(`a reply is {type: "<MessageType>", content: {...}}, got ${JSON.stringify(reply)}`);
  }
  const header = { type: reply.type };
  if (reply.extensions) header.extensions = reply.extensions;
  return { header, content: JSON.stringify(reply.content ?? {}) };
}

/**
 * What a failed handler answers: a message of type `Error` whose extensions carry the stable code,
 * so a caller sees the failure at once instead of waiting for its deadline.
 */
export function errorToCos(err) {
  const code = err instanceof CoagentError ? err.code : 'agent_crashed';
  const text = err instanceof CoagentError ? err.message : `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
  return {
    header: { type: 'Error', extensions: { error: code } },
    content: JSON.stringify({ code, message: text, details: err?.details ?? {} }),
  };
}

const sleep = (ms, signal) => new Promise((resolve) => {
  if (signal.aborted) return resolve();
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export class Runtime {
  /**
   * @param {string} baseUrl the gateway, e.g. `http://127.0.0.1:8000`
   * @param {{auth?: string, backoffMin?: number, backoffMax?: number, publishTimeout?: number,
   *   log?: (level: string, text: string) => void, fetch?: typeof fetch}} [opts] backoff in seconds
   *   (0.1 doubling up to 5); `publishTimeout`: seconds a reply may take to post (30)
   */
  constructor(baseUrl, opts = {}) {
    this.conn = new Connection(baseUrl, opts);
    this.backoffMin = opts.backoffMin ?? 0.1;
    this.backoffMax = opts.backoffMax ?? 5;
    this.publishTimeout = opts.publishTimeout ?? 30;
    this.log = opts.log ?? ((level, text) => { if (level !== 'debug') console.error(`coagent: ${text}`); });
    this.types = new Map();
    this.sessions = new Map();
    this.abort = new AbortController();
    this.loops = [];
    this.started = false;
    /** How many times each type has (re)connected: tests and health checks read it. */
    this.connects = new Map();
  }

  /**
   * Serve an agent type: `handler(msg, ctx)` returns a reply, or is an async generator (a stream).
   * @param {string} name the agent type's name (callers address it as `name`)
   * @param {(msg: {type: string, content: any}, ctx: {session: string, agent: string, signal: AbortSignal}) => any} handler
   * @param {{description?: string}} [opts]
   */
  register(name, handler, opts = {}) {
    if (typeof name !== 'string' || !name) throw new TypeError(`an agent type's name must be a non-empty string, got ${name}`);
    if (typeof handler !== 'function') throw new TypeError(`the handler of ${name} must be a function`);
    if (this.types.has(name)) throw new Error(`agent type ${name} is already registered here`);
    const type = { name, handler, description: opts.description ?? '', connected: null };
    this.types.set(name, type);
    if (this.started) this._launch(type);
    return this;
  }

  /**
   * Connect every registered type; resolves once each has been registered with the gateway once.
   * Rejects with the typed error when the gateway refuses a type (a bad token, say); until it
   * is reached at all it keeps trying, within `timeout` seconds (default: no limit).
   */
  async start({ timeout } = {}) {
    if (this.started) throw new Error('the runtime is already started');
    this.started = true;
    const waits = [...this.types.values()].map((t) => this._launch(t));
    if (timeout === undefined) {
      await Promise.all(waits);
      return;
    }
    let timer;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CoagentError(`not registered with ${this.conn.baseUrl} within ${timeout}s`,
        { code: 'deadline_exceeded' })), timeout * 1000);
    });
    try {
      await Promise.race([Promise.all(waits), limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Close every stream: the gateway deregisters the types and ends their sessions. */
  async stop() {
    this.abort.abort();
    await Promise.allSettled([...this.loops, ...[...this.sessions.values()].map((s) => s.loop)]);
  }

  _launch(type) {
    let resolve;
    let reject;
    const first = new Promise((res, rej) => { resolve = res; reject = rej; });
    const loop = this._serveType(type, resolve, reject);
    this.loops.push(loop);
    return first;
  }

  async _serveType(type, registered, refused) {
    const signal = this.abort.signal;
    let delay = this.backoffMin;
    let settled = false;
    while (!signal.aborted) {
      try {
        const { resp, done, why } = await this.conn.request('POST', '/runtime/register', {
          body: { name: type.name, description: type.description }, signal,
        });
        try {
          this.connects.set(type.name, (this.connects.get(type.name) ?? 0) + 1);
          this.log('debug', `registered ${type.name} with ${this.conn.baseUrl}`);
          delay = this.backoffMin;
          if (!settled) { settled = true; registered(); }
          for await (const ev of sseEvents(resp, why)) {
            if (ev.event !== 'message') continue;
            const raw = JSON.parse(ev.data);
            if (raw.header?.type === 'AgentCreated') {
              this._openSession(type, JSON.parse(raw.content).addr);
            } else if (raw.header?.type === 'AgentDeleted') {
              this._closeSession(JSON.parse(raw.content).addr);
            }
          }
        } finally {
          done();
        }
        if (!signal.aborted) this.log('info', `the gateway closed the registration of ${type.name}; reconnecting`);
      } catch (err) {
        if (signal.aborted) break;
        if (FATAL.some((cls) => err instanceof cls)) {
          this.log('error', `the gateway refused ${type.name}: ${err.code}: ${err.message}`);
          if (!settled) { settled = true; refused(err); }
          return;
        }
        this.log(settled ? 'info' : 'debug', `${type.name}: ${err.message}; retrying in ${delay.toFixed(2)}s`);
      }
      // Full jitter: clients that lost the same gateway do not all come back at the same instant.
      await sleep(Math.random() * delay * 1000 + 10, signal);
      delay = Math.min(this.backoffMax, delay * 2);
    }
  }

  _key(addr) {
    return `${addr.name}\u0000${addr.id ?? ''}`;
  }

  _openSession(type, addr) {
    const key = this._key(addr);
    const old = this.sessions.get(key);
    if (old) old.abort.abort(); // the gateway started the session again: the new stream wins
    const session = { abort: new AbortController(), loop: null };
    const stop = () => session.abort.abort();
    this.abort.signal.addEventListener('abort', stop, { once: true });
    session.loop = this._serveSession(type, addr, session.abort.signal).finally(() => {
      this.abort.signal.removeEventListener('abort', stop);
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    });
    this.sessions.set(key, session);
  }

  _closeSession(addr) {
    this.sessions.get(this._key(addr))?.abort.abort();
  }

  async _serveSession(type, addr, signal) {
    const ctx = { session: addr.id ?? '', agent: addr.name, signal };
    try {
      const { resp, done, why } = await this.conn.request('POST', '/runtime/channel/subscribe', {
        body: { addr }, signal,
      });
      try {
        for await (const ev of sseEvents(resp, why)) {
          if (ev.event !== 'message') continue;
          const raw = JSON.parse(ev.data);
          const kind = raw.header?.type;
          if (kind === 'AgentStarted' || kind === 'AgentStopped') continue;
          await this._handle(type, raw, ctx);
        }
      } finally {
        done();
      }
    } catch (err) {
      // The session ends with its stream: the gateway went away or ended it. New sessions
      // arrive through the type's registration once it is back.
      if (!signal.aborted) this.log('debug', `session ${addr.name}/${addr.id}: ${err.message}`);
    }
  }

  async _handle(type, raw, ctx) {
    const reply = raw.reply;
    let result;
    try {
      result = type.handler(fromCos(raw), ctx);
      if (isAsyncIterable(result)) {
        for await (const item of result) {
          if (reply) await this._publish(reply, toCos(item), ctx.signal);
        }
        if (reply) await this._publish(reply, STOP, ctx.signal);
        return;
      }
      result = await result;
      if (!reply) return;
      // A handler that returns nothing still answers, so its caller does not wait for a deadline.
      await this._publish(reply, result === undefined || result === null ? STOP : toCos(result), ctx.signal);
    } catch (err) {
      if (ctx.signal.aborted) return;
      this.log('error', `${type.name}/${ctx.session}: the handler of ${raw.header?.type} failed: ${err?.stack ?? err}`);
      if (reply) {
        try {
          await this._publish(reply, errorToCos(err), ctx.signal);
        } catch (e) {
          this.log('debug', `could not report the failure: ${e.message}`);
        }
      }
    }
  }

  async _publish(addr, msg, signal) {
    const { done } = await this.conn.request('POST', '/runtime/channel/publish', {
      body: { addr, msg }, timeout: this.publishTimeout, signal,
    });
    done();
  }
}
