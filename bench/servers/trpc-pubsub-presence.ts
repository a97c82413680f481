/**
 * trpc-pubsub with presence (the presence-churn scenario,
 * bench/presence-churn.ts): the bench topic `news` (the fan-out stream,
 * no presence), a keyed `chat` topic that opts in to presence and `plain`,
 * the same without presence (the churn's control), on
 * `createPubSubServer`, with the Redis engine (`--redis URL`) so that two
 * processes share their members. A member's info is `{ name }`, the
 * connection's `?name=` query parameter (`/trpc?name=j42`), so that a
 * watcher can tell which join it sees. BENCH_PRESENCE_TTL_MS sets
 * `presence.ttlMs` (the library's default when unset).
 */
import type { WebSocket } from 'ws';
import * as z from 'zod';
import type { BenchPayload } from '../lib/payload.js';
import { runServer } from './common.js';
import { lib, loadRedisEngine } from './trpc-pubsub-app.js';

const payload = z.object({ seq: z.number(), t: z.number(), body: z.string() });

/** The connection context: the member's display name. */
interface Ctx {
  name: string;
}

await runServer('trpc-pubsub-presence', async ({ redisUrl, prefix }) => {
  const { createConsoleLogger, createPubSub, createPubSubRouter, createPubSubServer, defineTopics, topic } = lib;
  const logger = createConsoleLogger('warn');
  const topics = defineTopics({
    news: topic({ payload }),
    chat: topic({
      key: z.string().min(1).max(64),
      payload: z.object({ user: z.string(), text: z.string().max(2000) }),
      presence: { info: z.object({ name: z.string() }) },
    }),
    plain: topic({ key: z.string().min(1).max(64), payload: z.object({ user: z.string(), text: z.string().max(2000) }) }),
  });
  const engine = redisUrl === undefined ? undefined : await loadRedisEngine(redisUrl, prefix);
  const ttl = process.env['BENCH_PRESENCE_TTL_MS'];
  const pubsub = createPubSub({
    topics,
    logger,
    ...(engine === undefined ? {} : { engine }),
    presence: { info: ({ ctx }) => ({ name: (ctx as Ctx).name }), ...(ttl === undefined ? {} : { ttlMs: Number(ttl) }) },
  });
  await pubsub.ready();
  const router = createPubSubRouter(pubsub);
  let last: WebSocket | undefined;
  const server = createPubSubServer({
    pubsub,
    router,
    maxConnectionsPerIp: Number.POSITIVE_INFINITY,
    createContext: ({ req }): Ctx => ({ name: new URL(req.url ?? '/', 'http://bench').searchParams.get('name') ?? 'anonymous' }),
    onConnect: ({ socket }) => {
      last = socket;
    },
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const onError = (error: unknown) => logger.error('publish failed', { error: String(error) });
  return {
    port,
    // The fan-out stream's subscribers (chat members and presence watchers come and go).
    subscribers: () => pubsub.health().subscriptions,
    publish: (event: BenchPayload) => {
      pubsub.publish('news', event).catch(onError);
    },
    buffered: () => last?.bufferedAmount ?? 0,
    async close() {
      await server.close();
      await pubsub.close();
    },
  };
});
