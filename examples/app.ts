/**
 * The application every example shares: three topics, the pubsub hub and
 * the tRPC router. Servers import the values; clients import only
 * `type AppRouter`, so no server code reaches them.
 */
import { initTRPC } from '@trpc/server';
import * as z from 'zod';
import { createPubSub, defineTopics, topic, topicProcedures } from 'trpc-pubsub';

export const topics = defineTopics({
  /** Chat messages, one channel per room; the last 100 of each room are kept for resuming clients. */
  chat: topic({
    key: z.string().min(1).max(64),
    payload: z.object({ user: z.string().min(1).max(64), text: z.string().min(1).max(2000) }),
    history: { maxEvents: 100 },
  }),
  /** Headlines, one channel for everybody. */
  news: topic({ payload: z.object({ title: z.string().min(1).max(200) }) }),
  /** A payload-less signal. */
  tick: topic(),
});

const t = initTRPC.create();

/**
 * The hub: validates, stamps and routes events. In memory (one process) by
 * default; with `REDIS_URL` set, every instance shares events through Redis
 * (`trpc-pubsub/redis` is imported only then, so a memory-only app needs
 * none of the Redis packages).
 */
export const pubsub = createPubSub({
  topics,
  engine: process.env['REDIS_URL'] ? (await import('trpc-pubsub/redis')).redisEngine() : undefined,
});

/** The app's router: its own procedures beside the generated `<topic>.events` / `<topic>.publish`. */
export const appRouter = t.router({
  hello: t.procedure.input(z.object({ name: z.string() })).query(({ input }) => `Hello, ${input.name}!`),
  ...topicProcedures(pubsub),
});

/** What clients import (types only). */
export type AppRouter = typeof appRouter;
