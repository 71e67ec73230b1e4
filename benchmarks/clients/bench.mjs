// The Node.js client's figures against a gateway (run by benchmarks/clients.py):
//   node benchmarks/clients/bench.mjs URL SECONDS
// Prints one JSON line: {name: per-second rate}. The floor is the same client calling the
// gateway's plain endpoint (GET /v1/health: the same stack, a small JSON answer).
import { Client, Runtime } from '../../clients/node/index.js';

const [url, seconds = '2'] = process.argv.slice(2);
const span = Number(seconds) * 1000;
const client = new Client(url, { timeout: 30 });

async function rate(fn) {
  for (let i = 0; i < 50; i++) await fn(); // warm up connections and code
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < span) { n += await fn(); }
  return n / ((performance.now() - t0) / 1000);
}

const runtime = new Runtime(url, { log: () => {} });
runtime.register('bench-node', async () => ({ type: 'GPong', content: { n: 1 } }));
runtime.register('bench-node-stream', async function* (msg) {
  for (let i = 0; i < msg.content.n; i++) yield { type: 'GTick', content: { i } };
});
await runtime.start({ timeout: 30 });
const out = {
  floor: await rate(async () => { await client.health(); return 1; }),
  ask_python: await rate(async () => { await client.ask('echo', { type: 'GPing', content: { n: 1 } }, { session: 's' }); return 1; }),
  ask_node: await rate(async () => { await client.ask('bench-node', { type: 'GPing', content: { n: 1 } }, { session: 's' }); return 1; }),
};
const stream = (agent) => async () => {
  let n = 0;
  for await (const _ of client.stream(agent, { type: 'GCount', content: { n: 2000 } })) n++;
  return n;
};
out.stream_python = await rate(stream('echo'));
out.stream_node = await rate(stream('bench-node-stream'));
await runtime.stop();
console.log(JSON.stringify(out));
