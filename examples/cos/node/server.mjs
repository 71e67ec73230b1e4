// Two agent types served from Node.js through `coagent gateway`: a ping-pong agent that keeps
// a count per session, and a streaming agent that answers word by word.
//
//   coagent gateway &                      # the hub, on 127.0.0.1:8000
//   node examples/cos/node/server.mjs      # serves "node-pong" and "node-speaker"
//   node examples/cos/node/caller.mjs node-pong node-speaker
//
// Options: --server URL (default http://127.0.0.1:8000), --auth TOKEN (or COAGENT_TOKEN).
// In your own project import from '@coagent/client' instead of the relative path.
import { parseArgs } from 'node:util';
import { Runtime, BadRequest } from '../../../clients/node/index.js';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'http://127.0.0.1:8000' },
    auth: { type: 'string', default: process.env.COAGENT_TOKEN ?? '' },
  },
});

const runtime = new Runtime(values.server, { auth: values.auth });
const counts = new Map(); // per session: each session's messages come one at a time

runtime.register('node-pong', async (msg, ctx) => {
  if (msg.type !== 'Ping') throw new BadRequest(`node-pong answers Ping, not ${msg.type}`);
  const count = (counts.get(ctx.session) ?? 0) + 1;
  counts.set(ctx.session, count);
  return { type: 'Pong', content: { text: `pong to ${JSON.stringify(msg.content.text ?? 'ping')} from Node.js`, count } };
}, { description: 'Answers Ping with Pong, counting per session (Node.js).' });

runtime.register('node-speaker', async function* (msg, ctx) {
  const words = String(msg.content.text ?? 'hello from node').split(' ');
  for (const word of words) {
    if (ctx.signal.aborted) return; // the caller cancelled: stop early
    await new Promise((resolve) => setTimeout(resolve, 20));
    yield { type: 'Word', content: { word } };
  }
}, { description: 'Streams the words of a text back, one event each (Node.js).' });

await runtime.start();
console.log(`serving node-pong and node-speaker through ${values.server} (${runtime.dialect}); Ctrl-C stops`);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => { await runtime.stop(); process.exit(0); });
}
