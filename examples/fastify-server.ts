/**
 * The pubsub beside a Fastify 5 app: WebSocket upgrades on /trpc are served
 * on `fastify.server`, and an ordinary route publishes.
 *
 *   PORT=3000 npx tsx --conditions=@trpc-pubsub/source examples/fastify-server.ts
 *   curl -X POST -H 'content-type: application/json' -d '{"title":"Hi"}' http://127.0.0.1:3000/news
 */
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import Fastify from 'fastify';
import { createPubSubServer } from 'trpc-pubsub';
import { appRouter, pubsub } from './app.js';

const server = createPubSubServer({ pubsub, router: appRouter });
const fastify = Fastify();
server.attach(fastify.server); // WebSocket upgrades on /trpc

fastify.get('/health', async (_req, reply) => {
  const health = server.health();
  return reply.code(health.status === 'ok' ? 200 : 503).send(health);
});
fastify.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await server.metrics()));

/** An ordinary route that publishes from server code (the payload is validated against the topic's schema). */
fastify.post<{ Body: { title?: unknown } | undefined }>('/news', async (req) => {
  const title = typeof req.body?.title === 'string' ? req.body.title : 'Hello from Fastify';
  const event = await pubsub.publish('news', { title });
  return { id: event.id };
});

/** An invalid payload (e.g. an empty title) is a TRPCError BAD_REQUEST: answer 400, not 500. */
fastify.setErrorHandler((error, _req, reply) => {
  if (!(error instanceof TRPCError)) return reply.send(error);
  return reply.code(getHTTPStatusCodeFromError(error)).send({ error: error.message });
});

await fastify.listen({ port: Number(process.env['PORT'] ?? 3000), host: '127.0.0.1' });
const { port } = fastify.server.address() as { port: number };
console.log(`WebSocket: ws://127.0.0.1:${port}/trpc`);
console.log(`Publish:   POST http://127.0.0.1:${port}/news`);

async function shutdown(): Promise<void> {
  await server.close();
  await fastify.close();
  await pubsub.close();
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
