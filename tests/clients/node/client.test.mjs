// The Node.js client against a real `coagent gateway` (COAGENT_URL, with --auth COAGENT_TOKEN):
// run by tests/clients/test_node.py, one test at a time (--test-name-pattern).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  AgentCrashed, AgentNotFound, CallCancelled, Client, CoagentError, DeadlineExceeded, Runtime,
  TooManySessions, TransportError, Unauthorized, UnknownMessage,
} from '../../../clients/node/index.js';

const URL = process.env.COAGENT_URL;
const TOKEN = process.env.COAGENT_TOKEN;
const client = new Client(URL, { auth: TOKEN, timeout: 10 });
const quiet = () => {};

test('an ask answers with the reply', async () => {
  assert.deepEqual(await client.ask('echo', { type: 'GPing', content: { n: 7 } }, { session: 's1' }),
    { type: 'GPong', content: { n: 7 } });
});

test('an ask of a handler that returns nothing answers null', async () => {
  assert.equal(await client.ask('echo', { type: 'GNote', content: { text: 'x' } }, { session: 's-null' }), null);
});

test('a stream yields every reply in order, then ends', async () => {
  const seen = [];
  for await (const part of client.stream('echo', { type: 'GCount', content: { n: 4 } })) seen.push(part.content.i);
  assert.deepEqual(seen, [0, 1, 2, 3]);
});

test('a stream that fails midway throws the typed error after the replies before it', async () => {
  const seen = [];
  await assert.rejects(async () => {
    for await (const part of client.stream('echo', { type: 'GCount', content: { n: 4, fail_at: 2 } })) seen.push(part.content.i);
  }, (err) => err instanceof AgentCrashed && err.code === 'agent_crashed');
  assert.deepEqual(seen, [0, 1]);
});

test('an unknown message type is an UnknownMessage with status 400', async () => {
  await assert.rejects(client.ask('echo', 'Nope'), (err) => err instanceof UnknownMessage && err.status === 400
    && err.details.type === 'Nope');
});

test('an unknown agent is an AgentNotFound with status 404', async () => {
  await assert.rejects(client.ask('nobody', 'GPing'), (err) => err instanceof AgentNotFound && err.status === 404
    && err instanceof CoagentError);
});

test('a deadline that passes is a DeadlineExceeded well before the handler would finish', async () => {
  const t0 = Date.now();
  await assert.rejects(client.ask('echo', { type: 'GSleep', content: { seconds: 20 } }, { timeout: 0.3 }),
    (err) => err instanceof DeadlineExceeded && err.status === 504);
  assert.ok(Date.now() - t0 < 5000);
});

test('aborting the signal cancels the call at once with CallCancelled', async () => {
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 200);
  const t0 = Date.now();
  await assert.rejects(client.ask('echo', { type: 'GSleep', content: { seconds: 20 } }, { signal: abort.signal }),
    (err) => err instanceof CallCancelled);
  assert.ok(Date.now() - t0 < 5000);
});

test('cancel by call id ends the call on the gateway and is idempotent', async () => {
  const callId = randomUUID();
  const pending = client.ask('echo', { type: 'GSleep', content: { seconds: 20 } }, { callId });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await client.cancel(callId), 'cancelled');
  await assert.rejects(pending, (err) => err instanceof CallCancelled && err.status === 499);
  assert.equal(await client.cancel(callId), 'cancelled'); // the same answer again
});

test('a tell with an idempotency key is delivered once', async () => {
  const session = `idem-${randomUUID()}`; // fresh on every run, as the key
  const note = { type: 'GNote', content: { text: 'once' } };
  const first = await client.tell('echo', note, { session, idempotencyKey: session });
  const again = await client.tell('echo', note, { session, idempotencyKey: session });
  assert.deepEqual([first.replayed, again.replayed, first.session], [false, true, session]);
  assert.deepEqual((await client.ask('echo', 'GNoted', { session })).content.texts, ['once']);
});

test('a wrong token is an Unauthorized with status 401', async () => {
  const bad = new Client(URL, { auth: 'wrong-token' });
  await assert.rejects(bad.ask('echo', 'GPing'), (err) => err instanceof Unauthorized && err.status === 401);
  const none = new Client(URL);
  await assert.rejects(none.agents(), (err) => err instanceof Unauthorized);
});

test('a gateway that is not there is a TransportError', async () => {
  const gone = new Client('http://127.0.0.1:9', { timeout: 2 });
  await assert.rejects(gone.ask('echo', 'GPing'), (err) => err instanceof TransportError);
});

test('a runtime serves single and streamed replies, and a handler failure reaches the caller typed', async () => {
  const rt = new Runtime(URL, { auth: TOKEN, log: quiet });
  rt.register('n-echo', async (msg, ctx) => {
    if (msg.type === 'Fail') throw new Error('broken');
    if (msg.type === 'Full') throw new TooManySessions('no room');
    if (msg.type === 'Quiet') return null;
    return { type: 'Echoed', content: { ...msg.content, session: ctx.session } };
  });
  rt.register('n-count', async function* (msg) {
    for (let i = 0; i < msg.content.n; i++) yield { type: 'Tick', content: { i } };
  });
  await rt.start({ timeout: 10 });
  try {
    assert.deepEqual(await client.ask('n-echo', { type: 'Hi', content: { a: 1 } }, { session: 'x' }),
      { type: 'Echoed', content: { a: 1, session: 'x' } });
    assert.equal(await client.ask('n-echo', 'Quiet', { session: 'x' }), null);
    const ticks = [];
    for await (const t of client.stream('n-count', { type: 'Go', content: { n: 50 } })) ticks.push(t.content.i);
    assert.deepEqual(ticks, [...Array(50).keys()]);
    await assert.rejects(client.ask('n-echo', 'Fail', { session: 'x' }),
      (err) => err instanceof AgentCrashed && /broken/.test(err.message));
    await assert.rejects(client.ask('n-echo', 'Full', { session: 'x' }),
      (err) => err instanceof TooManySessions && err.status === 429);
    assert.equal(rt.dialect, 'v1');
  } finally {
    await rt.stop();
  }
  // Gone once stopped: not found, or (while the gateway is still noticing) disconnected.
  await assert.rejects(client.ask('n-echo', 'Hi', { timeout: 3 }),
    (err) => err instanceof AgentNotFound || err.code === 'agent_disconnected');
});

test('a session handles its messages one at a time, in order', async () => {
  const rt = new Runtime(URL, { auth: TOKEN, log: quiet });
  let running = 0;
  let most = 0;
  const order = [];
  rt.register('n-serial', async (msg) => {
    running += 1;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 20));
    order.push(msg.content.i);
    running -= 1;
    return { type: 'Done', content: {} };
  });
  await rt.start({ timeout: 10 });
  try {
    for (let i = 0; i < 5; i++) await client.tell('n-serial', { type: 'Job', content: { i } }, { session: 'one' });
    await client.ask('n-serial', { type: 'Job', content: { i: 5 } }, { session: 'one' });
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
    assert.equal(most, 1);
  } finally {
    await rt.stop();
  }
});

test('a caller that cancels a stream aborts the handler signal', async () => {
  const rt = new Runtime(URL, { auth: TOKEN, log: quiet });
  let aborted;
  const gotAbort = new Promise((r) => { aborted = r; });
  rt.register('n-slow', async function* (msg, ctx) {
    ctx.signal.addEventListener('abort', () => aborted(true));
    for (let i = 0; ; i++) {
      yield { type: 'Tick', content: { i } };
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  await rt.start({ timeout: 10 });
  try {
    let n = 0;
    for await (const _ of client.stream('n-slow', 'Go')) if (++n === 3) break;
    assert.equal(await Promise.race([gotAbort, new Promise((r) => setTimeout(() => r(false), 5000))]), true);
  } finally {
    await rt.stop();
  }
});

test('a runtime with a wrong token fails to start with Unauthorized', async () => {
  const rt = new Runtime(URL, { auth: 'wrong-token', log: quiet });
  rt.register('n-never', async () => null);
  await assert.rejects(rt.start({ timeout: 10 }), (err) => err instanceof Unauthorized && err.status === 401);
  await rt.stop();
});

test('a runtime on the CoS protocol serves single and streamed replies as the original clients do', async () => {
  const rt = new Runtime(URL, { auth: TOKEN, protocol: 'cos', log: quiet });
  rt.register('n-cos', async (msg) => ({ type: 'Pong', content: { got: msg.content } }));
  rt.register('n-cos-stream', async function* () {
    for (const word of ['Hi ', 'there']) yield { type: 'PartialPong', content: { content: word } };
  });
  await rt.start({ timeout: 10 });
  try {
    assert.deepEqual(await client.ask('n-cos', { type: 'Ping', content: { x: 1 } }, { session: 'c1' }),
      { type: 'Pong', content: { got: { x: 1 } } });
    const words = [];
    for await (const p of client.stream('n-cos-stream', 'Ping', { session: 'c2' })) words.push(p.content.content);
    assert.deepEqual(words, ['Hi ', 'there']);
    assert.equal(rt.dialect, 'cos');
  } finally {
    await rt.stop();
  }
});

test('a serving stream that goes silent is taken for dead and the runtime reconnects', async () => {
  // A real HTTP server that accepts /v1/serve, says ready, then never sends another byte
  // (a gateway that vanished without closing the connection).
  const { createServer } = await import('node:http');
  let opened = 0;
  const server = createServer((req, res) => {
    opened += 1;
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('event: ready\ndata: {}\n\n');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const rt = new Runtime(`http://127.0.0.1:${server.address().port}`, { idleTimeout: 0.3, backoffMin: 0.05, log: quiet });
  rt.register('n-silent', async () => null);
  try {
    await rt.start({ timeout: 5 });
    const t0 = Date.now();
    while (opened < 3 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(opened >= 3, `reconnected ${opened - 1} times`);
    assert.ok(rt.connects.get('n-silent') >= 2);
  } finally {
    await rt.stop();
    server.closeAllConnections();
    server.close();
  }
});
