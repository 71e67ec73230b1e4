// The two agents of the original's examples/cos/cos.js (a Pong server and a word-by-word
// stream server), written with our Node client on the CoS protocol: the same request sequence.
//   node tests/clients/node/cos_agents.mjs http://127.0.0.1:PORT
import { Runtime } from '../../../clients/node/index.js';

const runtime = new Runtime(process.argv[2], { protocol: 'cos' });
runtime.register('server', async (msg) => (msg.type === 'Ping' ? { type: 'Pong' } : null),
  { description: 'The Pong Server.' });
runtime.register('stream_server', async function* (msg) {
  if (msg.type !== 'Ping') return;
  for (const word of ['Hi ', 'there, ', 'this ', 'is ', 'the ', 'Pong ', 'server.']) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    yield { type: 'PartialPong', content: { content: word } };
  }
}, { description: 'The Stream Pong Server.' });
await runtime.start({ timeout: 30 });
console.log(`registered over ${runtime.dialect}`);
process.on('SIGTERM', async () => { await runtime.stop(); process.exit(0); });
