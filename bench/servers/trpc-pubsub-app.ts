/**
 * The trpc-pubsub bench application, shared by the `trpc-pubsub` entry and
 * its prototypes: trpc-pubsub's own server (`createPubSubServer`) with one
 * topic and server-side `pubsub.publish`, as an application would write it.
 * Cross-instance (`--redis URL`): the Redis engine from `trpc-pubsub/redis`;
 * `--postgres URL`: the PostgreSQL engine from `trpc-pubsub/postgres`;
 * `--history N`: the topic keeps `history: { maxEvents: N }` (bench/durability.ts);
 * `--backlog N`: an `http.Server` of the app's own, listening with that
 * `backlog` (`server.listen()` keeps Node's default, 511), with `attach()`.
 * BENCH_RATE_LIMIT=off: `rateLimit: false` (bench/fairness.ts, the figure
 * without the per-connection request limit).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
export const lib = (await import(process.env['BENCH_TRPC_PUBSUB'] ?? 'trpc-pubsub')) as typeof TrpcPubSub;
const { createConsoleLogger, createPubSub, createPubSubRouter, createPubSubServer, defineTopics, topic } = lib;

const payload = z.object({ seq: z.number(), t: z.number(), body: z.string() });

/**
 * The bench topic, `news`, with `history: { maxEvents }` when asked (`--history N`);
 * `probe` and `flood` for bench/fairness.ts (a probe stream beside a flooding client),
 * `room` (keyed: one channel per room) for bench/many-channels.ts.
 */
export function benchTopics(maxEvents: number | undefined) {
  return defineTopics({
    news: maxEvents === undefined ? topic({ payload }) : topic({ payload, history: { maxEvents } }),
    probe: topic({ payload }),
    flood: topic({ payload }),
    // Many-channels (bench/many-channels.ts): one channel per room.
    room: topic({ key: z.string().min(1).max(64), payload }),
  });
}

/** Loads `redisEngine` from `trpc-pubsub/redis` if it exists yet (another engineer is writing it). */
export async function loadRedisEngine(url: string, prefix?: string): Promise<Engine> {
  const specifier = process.env['BENCH_TRPC_PUBSUB_REDIS'] ?? 'trpc-pubsub/redis';
  const module = (await import(specifier)) as { redisEngine?: (options: { url: string; prefix?: string }) => Engine };
  if (typeof module.redisEngine !== 'function') throw new Error('trpc-pubsub/redis does not export redisEngine yet');
  return module.redisEngine({ url, ...(prefix === undefined ? {} : { prefix }) });
}

/** Loads `postgresEngine` from `trpc-pubsub/postgres`. */
export async function loadPostgresEngine(connectionString: string, prefix?: string): Promise<Engine> {
  const specifier = process.env['BENCH_TRPC_PUBSUB_POSTGRES'] ?? 'trpc-pubsub/postgres';
  const module = (await import(specifier)) as { postgresEngine?: (options: { connectionString: string; channelPrefix?: string }) => Engine };
  if (typeof module.postgresEngine !== 'function') throw new Error('trpc-pubsub/postgres does not export postgresEngine');
  return module.postgresEngine({ connectionString, ...(prefix === undefined ? {} : { channelPrefix: prefix }) });
}

/** How a prototype changes the app (bench/servers/trpc-pubsub-proto.ts). */
export interface AppHooks {
  /** Serves `server` on 127.0.0.1 and returns the port. @default server.listen() */
  serve?: (server: TrpcPubSub.PubSubServer<any>) => Promise<number>;
}

/** Builds the trpc-pubsub bench server. */
export async function createTrpcPubSub({ redisUrl, postgresUrl, history, prefix, backlog }: ServerArgs, hooks: AppHooks = {}): Promise<SystemServer> {
  const logger = createConsoleLogger('warn');
  const topics = benchTopics(history);
  const engine =
    postgresUrl !== undefined
      ? await loadPostgresEngine(postgresUrl, prefix)
      : redisUrl === undefined
        ? undefined
        : await loadRedisEngine(redisUrl, prefix);
  const pubsub = createPubSub({ topics, logger, ...(engine === undefined ? {} : { engine }) });
  await pubsub.ready();
  const router = createPubSubRouter(pubsub);
  let last: WebSocket | undefined;
  const server = createPubSubServer({
    pubsub,
    router,
    ...(process.env['BENCH_RATE_LIMIT'] === 'off' ? { rateLimit: false } : {}),
    // Every load-generator socket comes from 127.0.0.1: the per-IP cap (1000 by default) would refuse the 10k scenarios.
    maxConnectionsPerIp: Number.POSITIVE_INFINITY,
    onConnect: ({ socket }) => {
      last = socket;
    },
  });
  if (backlog !== undefined && hooks.serve === undefined) {
    hooks = {
      ...hooks,
      serve: async (pubsubServer) => {
        const http = createServer((req, res) => {
          if (!pubsubServer.handleHttp(req, res)) res.writeHead(404).end();
        });
        pubsubServer.attach(http);
        await new Promise<void>((resolve, reject) => {
          http.once('error', reject);
          http.listen({ port: 0, host: '127.0.0.1', backlog }, () => resolve());
        });
        return (http.address() as AddressInfo).port;
      },
    };
  }
  const port = hooks.serve !== undefined ? await hooks.serve(server) : (await server.listen({ port: 0, host: '127.0.0.1' })).port;
  const onError = (error: unknown) => logger.error('publish failed', { error: String(error) });
  return {
    port,
    subscribers: () => pubsub.health().subscriptions,
    publish: (payload: BenchPayload) => {
      pubsub.publish('news', payload).catch(onError);
    },
    publishAcked: (payload: BenchPayload) => pubsub.publish('news', payload),
    publishRoom: (room: string, payload: BenchPayload) => {
      pubsub.publish('room', payload, { key: room }).catch(onError);
    },
    buffered: () => last?.bufferedAmount ?? 0,
    async close() {
      await server.close();
      await pubsub.close();
    },

  };
}
