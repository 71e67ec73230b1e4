/**
 * The HTTP plumbing both halves of the client share: headers, deadlines, SSE reading.
 *
 *   const conn = new Connection('http://127.0.0.1:8000', { auth: 'TOKEN' });
 *   const resp = await conn.post('/v1/agents/server/call', { type: 'Ping' }, { timeout: 5 });
 *   for await (const ev of sseEvents(resp)) console.log(ev.event, ev.data);
 */
import { EventSourceParserStream } from 'eventsource-parser/stream';
import {
  CallCancelled, CoagentError, DeadlineExceeded, TransportError, errorFromResponse,
} from './errors.js';

/** Seconds the client waits past the deadline it sent, so the gateway's own 504 arrives first. */
export const DEADLINE_GRACE = 1;

export class Connection {
  /**
   * @param {string} baseUrl e.g. `http://127.0.0.1:8000`
   * @param {{auth?: string, fetch?: typeof fetch}} [opts]
   */
  constructor(baseUrl, opts = {}) {
    if (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl)) {
      throw new TypeError(`the gateway's URL must start with http:// or https://, got ${baseUrl}`);
    }
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.auth = opts.auth || '';
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  headers(extra = {}) {
    const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...extra };
    if (this.auth) h.Authorization = `Bearer ${this.auth}`;
    return h;
  }

  /**
   * Send a request; resolves to the response when its status is 2xx, else throws its typed error.
   *
   * `timeout` (seconds) bounds the whole exchange; `signal` cancels it. Both abort the request,
   * which closes the connection: the gateway cancels the call's handler when that happens.
   * @returns {Promise<{resp: Response, done: () => void, why: (e: unknown) => Error}>} `done` releases
   *   the deadline timer; `why` names an error met while reading the body
   */
  async request(method, path, { body, headers = {}, timeout, signal } = {}) {
    const controller = new AbortController();
    let timedOut = false;
    let timer;
    if (timeout !== undefined && timeout !== null) {
      timer = setTimeout(() => { timedOut = true; controller.abort(); }, (timeout + DEADLINE_GRACE) * 1000);
    }
    const onAbort = () => controller.abort();
    if (signal) {
      if (signal.aborted) controller.abort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const why = (err) => {
      if (timedOut) return new DeadlineExceeded(`no answer from ${path} within ${timeout}s`, { cause: err });
      if (signal?.aborted) return new CallCancelled(`the call to ${path} was cancelled`, { cause: err });
      if (err instanceof CoagentError) return err;
      return new TransportError(`cannot reach the gateway at ${this.baseUrl}: ${err?.cause?.code ?? err?.message ?? err}`,
        { cause: err });
    };
    let resp;
    try {
      resp = await this.fetch(this.baseUrl + path, {
        method,
        headers: this.headers(headers),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (err) {
      done();
      throw why(err);
    }
    if (!resp.ok) {
      const err = await errorFromResponse(resp).catch((e) => why(e));
      done();
      throw err;
    }
    // The caller reads the body under the same deadline, then calls done().
    return { resp, done, why };
  }
}

/**
 * The events of an SSE response: `{event, data, id}` with `event` defaulting to `message`.
 * Errors while reading (the connection dropped, a deadline) are passed through `why`.
 *
 * `idle` (seconds): a stream that sends nothing for that long, not even the gateway's
 * keep-alive comment (every 15 s), is taken for a dead connection (a gateway that vanished
 * without closing it) and ends with a TransportError.
 */
export async function* sseEvents(resp, why = (e) => e, { idle } = {}) {
  let last = Date.now();
  const touch = new TransformStream({ transform(chunk, ctl) { last = Date.now(); ctl.enqueue(chunk); } });
  const reader = resp.body
    .pipeThrough(touch)
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
    .getReader();
  let timer;
  const silent = idle ? new Promise((resolve) => {
    const check = () => {
      const left = idle * 1000 - (Date.now() - last);
      if (left <= 0) resolve('idle');
      else timer = setTimeout(check, left);
    };
    timer = setTimeout(check, idle * 1000);
  }) : null;
  try {
    while (true) {
      let next;
      try {
        next = await (silent ? Promise.race([reader.read(), silent]) : reader.read());
      } catch (err) {
        throw why(err);
      }
      if (next === 'idle') {
        throw new TransportError(`nothing from the gateway for ${idle}s (not even a keep-alive): the connection is dead`);
      }
      if (next.done) return;
      const ev = next.value;
      yield { event: ev.event || 'message', data: ev.data, id: ev.id };
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
}

/** JSON.parse that reports what it could not parse as a typed error. */
export function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TransportError(`${what} is not JSON: ${String(text).slice(0, 200)}`, { cause: err });
  }
}
