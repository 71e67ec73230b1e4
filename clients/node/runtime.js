/**
 * Serve agent types from Node.js: the gateway delivers their sessions' messages over HTTP.
 *
 *   import { Runtime } from '@coagent/client';
 *   const runtime = new Runtime('http://127.0.0.1:8000', { auth: process.env.COAGENT_TOKEN });
 *   runtime.register('ponger', async (msg, ctx) => ({ type: 'Pong', content: { text: `pong to ${msg.content.text}` } }));
 *   runtime.register('counter', async function* (msg, ctx) {
 *     for (let i = 0; i < msg.content.n; i++) yield { type: 'Count', content: { i } };
 *   });
 *   await runtime.start();   // resolves once every type is registered; reconnects on its own
 *   ...
 *   await runtime.stop();
 *
 * A handler gets `{type, content, headers}` and a context `{agent, session, signal, deadline}`;
 * it returns one reply (`{type, content}`, or nothing) or is an async generator of replies (a
 * stream); what it throws reaches the caller as a typed error (its `code` when it is a
 * CoagentError, `agent_crashed` otherwise). Each session handles one message at a time, in
 * order, like an actor. `ctx.signal` aborts when the caller cancels or the deadline passes.
 *
 * Two protocols (see dialects.js): the gateway's own `/v1/serve` (one stream of deliveries for
 * every type, with call ids, deadlines, cancellation and typed errors), used by default, and the
 * original Coagent's CoS endpoints (`/runtime/register`, `/runtime/channel/subscribe`,
 * `/runtime/channel/publish`), used when the gateway has no `/v1/serve` or when asked for with
 * `protocol: 'cos'`. When the gateway goes away the runtime reconnects with exponential backoff
 * and full jitter and serves again, without a restart.
 */
import {
  BadRequest, CoagentError, EndpointNotFound, MethodNotAllowed, NotImplementedHere, Unauthorized,
} from './errors.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Connection } from './http.js';
import { serveCos, serveV1 } from './dialects.js';

/** Errors that another attempt will not cure: the runtime gives up and says why. */
const FATAL = [Unauthorized, BadRequest, NotImplementedHere];

function defaultNodeName() {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 24);
  return `node-${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

const sleep = (ms, signal) => new Promise((resolve) => {
  if (signal.aborted) return resolve();
  const t = setTimeout(() => { signal.removeEventListener('abort', done); resolve(); }, ms);
  const done = () => { clearTimeout(t); resolve(); };
  signal.addEventListener('abort', done, { once: true });
});

export class Runtime {
  /**
   * @param {string} baseUrl the gateway, e.g. `http://127.0.0.1:8000`
   * @param {{auth?: string, protocol?: 'auto' | 'v1' | 'cos', node?: string, backoffMin?: number,
   *   backoffMax?: number, publishTimeout?: number, idleTimeout?: number, log?: (level: string, text: string) => void,
   *   fetch?: typeof fetch}} [opts] backoff in seconds (0.1 doubling up to 5); `publishTimeout`:
   *   seconds an answer may take to post (30); `node`: the name the gateway shows for this process
   *   (1-64 of [A-Za-z0-9_-]; default: `node-<host>-<pid>-<random>`);
   *   `idleTimeout`: seconds of silence (no event, no keep-alive) after which a stream is taken
   *   for dead and the runtime reconnects (45; the gateway sends a keep-alive every 15)
   */
  constructor(baseUrl, opts = {}) {
    this.conn = new Connection(baseUrl, opts);
    this.protocol = opts.protocol ?? 'auto';
    if (!['auto', 'v1', 'cos'].includes(this.protocol)) throw new TypeError(`protocol must be auto, v1 or cos, got ${this.protocol}`);
    // A name of its own, kept across reconnects: the gateway then replaces this process's old
    // stream at once (one left half-open by a network failure would otherwise hold the types).
    this.node = opts.node ?? defaultNodeName();
    this.backoffMin = opts.backoffMin ?? 0.1;
    this.backoffMax = opts.backoffMax ?? 5;
    this.publishTimeout = opts.publishTimeout ?? 30;
    this.idleTimeout = opts.idleTimeout ?? 45;
    this.log = opts.log ?? ((level, text) => { if (level === 'error' || level === 'warn') console.error(`coagent: ${text}`); });
    this.types = new Map();
    this.abort = new AbortController();
    this.loops = [];
    this.started = false;
    /** The protocol in use once connected: 'v1' or 'cos'. */
    this.dialect = this.protocol === 'auto' ? null : this.protocol;
    /** How many times the runtime has (re)connected, by type name (tests and health checks). */
    this.connects = new Map();
  }

  /**
   * Serve an agent type: `handler(msg, ctx)` returns a reply, or is an async generator (a stream).
   * Call it before start().
   * @param {string} name the agent type's name (callers address it as `name`)
   * @param {(msg: {type: string, content: any, headers: object}, ctx: {agent: string, session: string,
   *   signal: AbortSignal, deadline: number}) => any} handler
   * @param {{description?: string}} [opts]
   */
  register(name, handler, opts = {}) {
    if (typeof name !== 'string' || !name) throw new TypeError(`an agent type's name must be a non-empty string, got ${name}`);
    if (typeof handler !== 'function') throw new TypeError(`the handler of ${name} must be a function`);
    if (this.types.has(name)) throw new Error(`agent type ${name} is already registered here`);
    if (this.started) throw new Error('register every agent type before start()');
    this.types.set(name, { name, handler, description: opts.description ?? '' });
    return this;
  }

  /**
   * Connect and serve; resolves once every type is registered with the gateway.
   * Rejects with the typed error when the gateway refuses (a bad token: Unauthorized); while
   * the gateway cannot be reached it keeps trying, for `timeout` seconds when given.
   */
  async start({ timeout } = {}) {
    if (this.started) throw new Error('the runtime is already started');
    if (this.types.size === 0) throw new Error('register an agent type before start()');
    this.started = true;
    const groups = this.dialect === 'cos' ? [...this.types.values()].map((t) => [t]) : [[...this.types.values()]];
    const waits = groups.map((types) => this._launch(types));
    let timer;
    const limit = new Promise((_, reject) => {
      if (timeout === undefined) return;
      timer = setTimeout(() => reject(new CoagentError(
        `not registered with ${this.conn.baseUrl} within ${timeout}s`, { code: 'deadline_exceeded' })), timeout * 1000);
    });
    try {
      await Promise.race([Promise.all(waits), limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Close every stream: the gateway deregisters the types; calls in flight are abandoned. */
  async stop() {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  _launch(types) {
    let resolve;
    let reject;
    const first = new Promise((res, rej) => { resolve = res; reject = rej; });
    first.catch(() => {}); // start() reports it; a runtime nobody awaits must not crash the process
    this.loops.push(this._loop(types, resolve, reject));
    return first;
  }

  /** One connection, again and again: `/v1/serve` for every type, or CoS for one. */
  async _loop(types, registered, refused) {
    const signal = this.abort.signal;
    let delay = this.backoffMin;
    let settled = false;
    const onReady = () => {
      for (const t of types) this.connects.set(t.name, (this.connects.get(t.name) ?? 0) + 1);
      delay = this.backoffMin;
      if (!settled) { settled = true; registered(); }
    };
    while (!signal.aborted) {
      try {
        if (this.dialect === 'cos') {
          await serveCos(this, types[0], onReady);
        } else {
          try {
            await serveV1(this, types, () => { this.dialect = 'v1'; onReady(); });
          } catch (err) {
            if (this.dialect === null && (err instanceof EndpointNotFound || err instanceof MethodNotAllowed)) {
              // An older gateway without our serving API: the original's endpoints, one stream a type.
              this.log('info', `${this.conn.baseUrl} has no /v1/serve; serving over the CoS endpoints`);
              this.dialect = 'cos';
              const rest = types.slice(1).map((t) => this._launch([t]));
              const [whenAll, whenRefused] = [registered, refused];
              const mine = new Promise((res, rej) => { registered = res; refused = rej; });
              Promise.all([mine, ...rest]).then(() => whenAll(), whenRefused);
              types = [types[0]];
              continue;
            }
            throw err;
          }
        }
        if (!signal.aborted) this.log('info', 'the gateway closed the stream; reconnecting');
      } catch (err) {
        if (signal.aborted) break;
        if (FATAL.some((cls) => err instanceof cls)) {
          this.log('error', `the gateway refused ${types.map((t) => t.name).join(', ')}: ${err.code}: ${err.message}`);
          if (!settled) { settled = true; refused(err); }
          return;
        }
        this.log(settled ? 'info' : 'debug', `${err.code ?? 'error'}: ${err.message}; retrying within ${delay.toFixed(2)}s`);
      }
      // Full jitter: clients that lost the same gateway do not all come back at the same instant.
      await sleep(Math.random() * delay * 1000 + 10, signal);
      delay = Math.min(this.backoffMax, delay * 2);
    }
  }
}
