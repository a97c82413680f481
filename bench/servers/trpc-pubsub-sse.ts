/**
 * trpc-pubsub over SSE (the sse-fanout-1k scenario, bench/sse-fanout.ts):
 * the bench app's pubsub and router (trpc-pubsub-app.ts) served by
 * `createPubSubServer({ sse: true })` (tRPC's own node HTTP adapter behind
 * the server's guards), so that a subscriber is a
 * `GET /trpc/news.events?input={}` event stream (what `httpSubscriptionLink`
 * opens) and server-side `pubsub.publish` reaches it through tRPC's SSE
 * producer. Memory engine only.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BenchPayload } from '../lib/payload.js';
import { runServer } from './common.js';
import { benchTopics, lib } from './trpc-pubsub-app.js';

await runServer('trpc-pubsub-sse', async ({ redisUrl, postgresUrl }) => {
  if (redisUrl !== undefined || postgresUrl !== undefined) throw new Error('trpc-pubsub-sse runs on the memory engine only');
  const logger = lib.createConsoleLogger('warn');
  const pubsub = lib.createPubSub({ topics: benchTopics(undefined), logger });
  await pubsub.ready();
  const router = lib.createPubSubRouter(pubsub);
  // Every load-generator stream comes from 127.0.0.1: no per-IP cap (1000 by default).
  const server = lib.createPubSubServer({ pubsub, router, sse: true, maxConnectionsPerIp: Number.POSITIVE_INFINITY });
  /** The most recent event stream (backpressure guard: bytes queued in its response). */
  let last: ServerResponse | undefined;
  const http = createServer((req, res) => {
    last = res;
    if (!server.handleHttp(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const onError = (error: unknown) => logger.error('publish failed', { error: String(error) });
  return {
    port: (http.address() as AddressInfo).port,
    subscribers: () => pubsub.health().subscriptions,
    publish: (payload: BenchPayload) => {
      pubsub.publish('news', payload).catch(onError);
    },
    buffered: () => last?.writableLength ?? 0,
    async close() {
      await server.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await pubsub.close();
    },
  };
});
