/**
 * The pubsub inside an Express 5 app: WebSocket upgrades on /trpc share the
 * app's HTTP server, and an ordinary route publishes.
 *
 *   PORT=3000 npx tsx --conditions=@trpc-pubsub/source examples/express-server.ts
 *   curl -X POST -H 'content-type: application/json' -d '{"title":"Hi"}' http://127.0.0.1:3000/news
 */
import type { AddressInfo } from 'node:net';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import express, { type ErrorRequestHandler } from 'express';
import { createPubSubServer } from 'trpc-pubsub';
import { appRouter, pubsub } from './app.js';

const server = createPubSubServer({ pubsub, router: appRouter });
const app = express();
app.use(express.json());
app.use((req, res, next) => {
  if (!server.handleHttp(req, res)) next(); // GET /health, GET /metrics
});

/** An ordinary route that publishes from server code (the payload is validated against the topic's schema). */
app.post('/news', async (req, res) => {
  const title = typeof req.body?.title === 'string' ? req.body.title : 'Hello from Express';
  const event = await pubsub.publish('news', { title });
  res.json({ id: event.id });
});

/** An invalid payload (e.g. an empty title) is a TRPCError BAD_REQUEST: answer 400, not 500. */
const onError: ErrorRequestHandler = (error, _req, res, next) => {
  if (!(error instanceof TRPCError)) return next(error);
  res.status(getHTTPStatusCodeFromError(error)).json({ error: error.message });
};
app.use(onError);

const http = app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1');
await new Promise<void>((resolve, reject) => http.once('listening', resolve).once('error', reject));
server.attach(http); // WebSocket upgrades on /trpc
const { port } = http.address() as AddressInfo;
console.log(`WebSocket: ws://127.0.0.1:${port}/trpc`);
console.log(`Publish:   POST http://127.0.0.1:${port}/news`);

async function shutdown(): Promise<void> {
  http.close();
  await server.close();
  http.closeAllConnections();
  await pubsub.close();
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
