/**
 * The trpc-pubsub bench application, shared by the `trpc-pubsub` entry and
 * its prototypes: trpc-pubsub's own server (`createPubSubServer`) with one
 * topic and server-side `pubsub.publish`, as an application would write it.
 * Cross-instance (`--redis URL`): the Redis engine from `trpc-pubsub/redis`.
 */
import type { WebSocket } from 'ws';
import * as z from 'zod';
import type * as TrpcPubSub from 'trpc-pubsub';
import type { Engine } from 'trpc-pubsub';
import type { BenchPayload } from '../lib/payload.js';
import type { ServerArgs, SystemServer } from './common.js';

/**
 * The library: the tsc build bench/run.ts makes (BENCH_TRPC_PUBSUB), or
 * src/ through tsx with `--source`.
 */
const lib = (await import(process.env['BENCH_TRPC_PUBSUB'] ?? 'trpc-pubsub')) as typeof TrpcPubSub;
const { createConsoleLogger, createPubSub, createPubSubRouter, createPubSubServer, defineTopics, topic } = lib;

const topics = defineTopics({
  news: topic({ payload: z.object({ seq: z.number(), t: z.number(), body: z.string() }) }),
});

/** Loads `redisEngine` from `trpc-pubsub/redis` if it exists yet (another engineer is writing it). */
export async function loadRedisEngine(url: string): Promise<Engine> {
  const specifier = process.env['BENCH_TRPC_PUBSUB_REDIS'] ?? 'trpc-pubsub/redis';
  const module = (await import(specifier)) as { redisEngine?: (options: { url: string }) => Engine };
  if (typeof module.redisEngine !== 'function') throw new Error('trpc-pubsub/redis does not export redisEngine yet');
  return module.redisEngine({ url });
}

/** How a prototype changes the app (bench/servers/trpc-pubsub-proto.ts). */
export interface AppHooks {
  /** Serves `server` on 127.0.0.1 and returns the port. @default server.listen() */
  serve?: (server: TrpcPubSub.PubSubServer<any>) => Promise<number>;
}

/** Builds the trpc-pubsub bench server. */
export async function createTrpcPubSub({ redisUrl }: ServerArgs, hooks: AppHooks = {}): Promise<SystemServer> {
  const logger = createConsoleLogger('warn');
  const engine = redisUrl === undefined ? undefined : await loadRedisEngine(redisUrl);
  const pubsub = createPubSub({ topics, logger, ...(engine === undefined ? {} : { engine }) });
  await pubsub.ready();
  const router = createPubSubRouter(pubsub);
  let last: WebSocket | undefined;
  const server = createPubSubServer({
    pubsub,
    router,
    onConnect: ({ socket }) => {
      last = socket;
    },
  });
  const port = hooks.serve !== undefined ? await hooks.serve(server) : (await server.listen({ port: 0, host: '127.0.0.1' })).port;
  const onError = (error: unknown) => logger.error('publish failed', { error: String(error) });
  return {
    port,
    subscribers: () => pubsub.health().subscriptions,
    publish: (payload: BenchPayload) => {
      pubsub.publish('news', payload).catch(onError);
    },
    buffered: () => last?.bufferedAmount ?? 0,
    async close() {
      await server.close();
      await pubsub.close();
    },

  };
}
