/**
 * Demo server (`npm start`): the pubsub on a plain `node:http` server, with
 * an HTTP trigger that publishes from server code.
 *
 *   PORT=3000 npm start
 *   curl http://127.0.0.1:3000/trigger              # publishes on `news`
 *   curl 'http://127.0.0.1:3000/trigger?topic=tick' # publishes on `tick`
 *
 * Also answers GET /health and GET /metrics. PORT=0 picks a free port.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPubSubServer } from 'trpc-pubsub';
import { appRouter, pubsub } from './app.js';

const server = createPubSubServer({ pubsub, router: appRouter });
let triggered = 0;

const http = createServer((req, res) => {
  if (server.handleHttp(req, res)) return; // GET /health, GET /metrics
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/trigger') {
    const publishing =
      url.searchParams.get('topic') === 'tick'
        ? pubsub.publish('tick')
        : pubsub.publish('news', { title: `Triggered #${++triggered}` });
    publishing.then(
      (event) => json(res, 200, { id: event.id, topic: event.topic, payload: event.payload }),
      (error: unknown) => json(res, 503, { error: String(error) }),
    );
    return;
  }
  if (req.method === 'GET' && url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(
      'trpc-pubsub demo\nTopics: chat (keyed by room), news, tick\nWebSocket: /trpc\nGET /trigger publishes on "news"; GET /trigger?topic=tick publishes on "tick"\nGET /health\nGET /metrics\n',
    );
    return;
  }
  json(res, 404, { error: 'not found' });
});
server.attach(http); // WebSocket upgrades on /trpc

const requestedPort = Number(process.env['PORT'] ?? 3000);
try {
  http.listen(requestedPort, '127.0.0.1');
  await once(http, 'listening'); // rejects with the server's 'error' (EADDRINUSE, …)
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code;
  console.error(
    code === 'EADDRINUSE'
      ? `demo: port ${requestedPort} is already in use; stop what runs there or pick another with PORT=…`
      : `demo: cannot listen on 127.0.0.1:${requestedPort}: ${String(error)}`,
  );
  await server.close();
  await pubsub.close();
  process.exit(1);
}
const { port } = http.address() as AddressInfo;
console.log(`Engine:    ${engineName()}`);
console.log(`WebSocket: ws://127.0.0.1:${port}/trpc`);
console.log(`Trigger:   http://127.0.0.1:${port}/trigger publishes on "news"; ?topic=tick publishes on "tick"`);

/** Ctrl-C / SIGTERM: tell clients to reconnect elsewhere, close sockets, stop the hub. */
async function shutdown(): Promise<void> {
  http.close(); // stop accepting; idle keep-alive sockets close too
  await server.close();
  http.closeAllConnections();
  await pubsub.close();
  console.log('Stopped.');
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The engine the banner names: memory, or Redis with its URL (password hidden). */
function engineName(): string {
  if (pubsub.engine.name === 'memory') return 'memory (one process)';
  const url = new URL(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
  if (url.password !== '') url.password = '***';
  return `${pubsub.engine.name} ${url.toString()}`;
}
