// Call agents through `coagent gateway` from Node.js: an ask, a stream, and a typed error.
//
//   node examples/cos/node/caller.mjs [PONG_AGENT [STREAM_AGENT]]   (default: node-pong node-speaker)
//
// Any agent answers, whatever it is written in: a Python agent on the gateway's node, a Go
// agent served by examples/cos/go/server, a Node.js one served by server.mjs.
import { parseArgs } from 'node:util';
import { Client, AgentNotFound } from '../../../clients/node/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    server: { type: 'string', default: 'http://127.0.0.1:8000' },
    auth: { type: 'string', default: process.env.COAGENT_TOKEN ?? '' },
  },
});
const [pong = 'node-pong', speaker = 'node-speaker'] = positionals;
const client = new Client(values.server, { auth: values.auth, timeout: 10 });

for (const session of ['alice', 'alice', 'bob']) {
  const reply = await client.ask(pong, { type: 'Ping', content: { text: `hi from ${session}` } }, { session });
  console.log(`${session}: ${reply.type} ${reply.content.text} (#${reply.content.count})`);
}

const words = [];
for await (const part of client.stream(speaker, { type: 'Speak', content: { text: 'one two three' } })) {
  words.push(part.content.word);
}
console.log(`streamed: ${words.join(' ')}`);

try {
  await client.ask('nobody-here', { type: 'Ping' });
} catch (err) {
  if (!(err instanceof AgentNotFound)) throw err;
  console.log(`typed error: ${err.code} (HTTP ${err.status})`);
}
