/**
 * The Node.js client of the Coagent HTTP gateway (Node 20+, ES module).
 *
 *   import { Client, Runtime, DeadlineExceeded } from '@coagent/client';
 *   const client = new Client('http://127.0.0.1:8000');
 *   console.log(await client.ask('server', { type: 'Ping', content: { text: 'hi' } }));
 *
 * `Client` calls agents (ask, stream, tell, cancel); `Runtime` serves agent types; every
 * failure is a typed error of errors.js, named by the gateway's stable error code.
 */
export { Client } from './client.js';
export { Runtime } from './runtime.js';
export { fromCos, toCos, toItem } from './dialects.js';
export * from './errors.js';
