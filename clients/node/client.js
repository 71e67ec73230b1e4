/**
 * Call any agent through the gateway's `/v1` API: ask, stream, tell, cancel.
 *
 *   import { Client } from '@coagent/client';
 *   const client = new Client('http://127.0.0.1:8000', { auth: process.env.COAGENT_TOKEN });
 *   const pong = await client.ask('server', { type: 'Ping', content: { text: 'hi' } }, { session: 'alice' });
 *   for await (const part of client.stream('speaker', { type: 'StreamPing', content: { words: 3 } })) {
 *     console.log(part.type, part.content);
 *   }
 *
 * A message is `{type, content}` (content a JSON object) or just its type as a string.
 * Every failure is a typed error from errors.js; `timeout` is in seconds and travels to the
 * gateway in `Coagent-Timeout`; an AbortSignal cancels the call (the handler is cancelled too).
 */
import { randomUUID } from 'node:crypto';
import { CallCancelled, CoagentError, errorFromBody } from './errors.js';
import { Connection, parseJson, sseEvents } from './http.js';

const NAME = /^[A-Za-z0-9_.:-]{1,200}$/;

function message(msg) {
  if (typeof msg === 'string') return { type: msg, content: {} };
  if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string' || !msg.type) {
    throw new TypeError(`a message is {type: "<MessageType>", content: {...}} or a type name, got ${JSON.stringify(msg)}`);
  }
  const body = { type: msg.type, content: msg.content ?? {} };
  if (msg.headers) body.headers = msg.headers;
  return body;
}

function path(agent, session, verb) {
  if (typeof agent !== 'string' || !agent) throw new TypeError(`the agent's name must be a non-empty string, got ${agent}`);
  const base = `/v1/agents/${encodeURIComponent(agent)}`;
  return session === undefined || session === null
    ? `${base}/${verb}`
    : `${base}/sessions/${encodeURIComponent(session)}/${verb}`;
}

export class Client {
  /**
   * @param {string} baseUrl the gateway, e.g. `http://127.0.0.1:8000`
   * @param {{auth?: string, timeout?: number, fetch?: typeof fetch}} [opts] `timeout`: the default
   *   deadline in seconds (60)
   */
  constructor(baseUrl, opts = {}) {
    this.conn = new Connection(baseUrl, opts);
    this.timeout = opts.timeout ?? 60;
  }

  _headers(opts, callId) {
    const h = { 'Coagent-Timeout': String(opts.timeout ?? this.timeout) };
    if (callId) h['Coagent-Call-Id'] = callId;
    return h;
  }

  /** Tell the gateway to cancel a call after its caller aborted (best effort, bounded). */
  async _cancelQuietly(callId) {
    try {
      await this.cancel(callId, { timeout: 2 });
    } catch { /* the disconnect cancels the call anyway */ }
  }

  /**
   * Ask an agent and wait for its reply.
   * @param {string} agent the agent type's name
   * @param {{type: string, content?: object, headers?: object} | string} msg
   * @param {{session?: string, timeout?: number, signal?: AbortSignal, callId?: string}} [opts]
   *   without `session` the gateway starts a fresh one
   * @returns {Promise<{type: string, content: any} | null>} null when the handler returns nothing
   */
  async ask(agent, msg, opts = {}) {
    const callId = opts.callId ?? randomUUID();
    const timeout = opts.timeout ?? this.timeout;
    try {
      const { resp, done, why } = await this.conn.request('POST', path(agent, opts.session, 'call'), {
        body: message(msg), headers: this._headers(opts, callId), timeout, signal: opts.signal,
      });
      try {
        if (resp.status === 204) return null;
        const text = await resp.text().catch((e) => { throw why(e); });
        return parseJson(text, 'the reply');
      } finally {
        done();
      }
    } catch (err) {
      if (err instanceof CallCancelled && opts.signal?.aborted) await this._cancelQuietly(callId);
      throw err;
    }
  }

  /**
   * Stream an agent's replies as they come; breaking out of the loop cancels the stream.
   * @returns {AsyncGenerator<{type: string, content: any}>}
   */
  async* stream(agent, msg, opts = {}) {
    const callId = opts.callId ?? randomUUID();
    const timeout = opts.timeout ?? this.timeout;
    let finished = true;
    try {
      const { resp, done, why } = await this.conn.request('POST', path(agent, opts.session, 'stream'), {
        body: message(msg), headers: this._headers(opts, callId), timeout, signal: opts.signal,
      });
      finished = false;
      try {
        for await (const ev of sseEvents(resp, why)) {
          if (ev.event === 'message') {
            yield parseJson(ev.data, 'a streamed reply');
          } else if (ev.event === 'end') {
            finished = true;
            return;
          } else if (ev.event === 'error') {
            finished = true;
            throw errorFromBody(200, parseJson(ev.data, 'an error event'));
          }
        }
        throw why(new CoagentError('the stream ended without its end event (the gateway went away)',
          { code: 'transport_error' }));
      } finally {
        done();
      }
    } catch (err) {
      if (err instanceof CallCancelled && opts.signal?.aborted) await this._cancelQuietly(callId);
      throw err;
    } finally {
      // Left early (break, or an error in the loop's body): the gateway stops the handler.
      if (!finished && !opts.signal?.aborted) this._cancelQuietly(callId);
    }
  }

  /**
   * Deliver a message without waiting for a reply.
   * @param {{session?: string, timeout?: number, idempotencyKey?: string, signal?: AbortSignal}} [opts]
   * @returns {Promise<{accepted: boolean, replayed: boolean, session: string}>}
   */
  async tell(agent, msg, opts = {}) {
    const headers = this._headers(opts);
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
    const { resp, done, why } = await this.conn.request('POST', path(agent, opts.session, 'tell'), {
      body: message(msg), headers, timeout: opts.timeout ?? this.timeout, signal: opts.signal,
    });
    try {
      const body = parseJson(await resp.text().catch((e) => { throw why(e); }), 'the tell answer');
      return { ...body, session: resp.headers.get('coagent-session') };
    } finally {
      done();
    }
  }

  /**
   * Cancel a call or stream by its id (`callId` of ask/stream); repeating it is harmless.
   * @returns {Promise<'cancelled' | 'finished' | 'unknown'>}
   */
  async cancel(callId, opts = {}) {
    if (typeof callId !== 'string' || !NAME.test(callId)) throw new TypeError(`not a call id: ${callId}`);
    return (await this._get(`/v1/calls/${encodeURIComponent(callId)}`, opts, 'DELETE')).state;
  }

  /** Every agent type the gateway reaches: `[{name, description, nodes, message_types}]`. */
  async agents(opts = {}) {
    return (await this._get('/v1/agents', opts)).agents;
  }

  /** The supervision tree of every node. */
  async tree(opts = {}) {
    return (await this._get('/v1/tree', opts)).nodes;
  }

  /** `{status: "ok"}` while the gateway serves. */
  async health(opts = {}) {
    return this._get('/v1/health', opts);
  }

  async _get(p, opts, method = 'GET') {
    const { resp, done, why } = await this.conn.request(method, p, {
      timeout: opts.timeout ?? 10, signal: opts.signal,
    });
    try {
      return parseJson(await resp.text().catch((e) => { throw why(e); }), `the answer of ${p}`);
    } finally {
      done();
    }
  }
}
