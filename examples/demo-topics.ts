/**
 * The demo's application (`npm start`, the web app in `examples/web/`):
 * chat rooms with history and presence, a server-published ticker, and the
 * `news`/`tick` topics the Node examples use. Built by a function, so each
 * demo instance (and each test) gets its own hub on the engine it is given.
 * The web app imports only `type DemoRouter`.
 */
import { initTRPC } from '@trpc/server';
import * as z from 'zod';
import { createPubSub, defineTopics, topic, topicProcedures, type Engine, type Logger } from 'trpc-pubsub';

/** What every demo connection carries: the name the browser sent in `connectionParams` (`anonymous` without one). */
export interface DemoContext {
  name: string;
}

/** How many chat messages each room keeps by default (a late joiner gets the newest 20 of them). */
export const DEFAULT_CHAT_HISTORY = 100;

/** Longest name a client may send; longer ones are cut. */
export const MAX_NAME_LENGTH = 32;

/** The demo's topics; `chatHistory` is how many messages each room keeps. */
export function demoTopics(chatHistory: number = DEFAULT_CHAT_HISTORY) {
  return defineTopics({
    /** Chat messages, one channel per room, the newest `chatHistory` kept; who is in a room is its presence. */
    chat: topic({
      key: z.string().min(1).max(64),
      payload: z.object({ user: z.string().min(1).max(64), text: z.string().min(1).max(2000) }),
      history: { maxEvents: chatHistory },
      presence: { info: z.object({ name: z.string() }) },
    }),
    /** A price published by the server every second; the newest 10 kept. */
    ticker: topic({
      payload: z.object({ symbol: z.string(), price: z.number(), seq: z.number().int() }),
      history: { maxEvents: 10 },
    }),
    /** Headlines (`GET /trigger`), one channel for everybody. */
    news: topic({ payload: z.object({ title: z.string().min(1).max(200) }) }),
    /** A payload-less signal (`GET /trigger?topic=tick`). */
    tick: topic(),
  });
}

/** Options of {@link createDemoApp}. */
export interface DemoAppOptions {
  /** The engine (Redis for several instances). @default the memory engine */
  engine?: Engine;
  /** Messages each chat room keeps. @default DEFAULT_CHAT_HISTORY */
  chatHistory?: number;
  /** The hub's logger. @default the library's (TRPC_PUBSUB_LOG_LEVEL) */
  logger?: Logger;
}

/** The name in a client's `connectionParams`, trimmed and bounded; `anonymous` when there is none. */
export function nameFrom(connectionParams: Record<string, string | undefined> | null | undefined): string {
  const name = connectionParams?.['name']?.trim().slice(0, MAX_NAME_LENGTH) ?? '';
  return name === '' ? 'anonymous' : name;
}

/** The hub and the router of one demo instance. */
export function createDemoApp(options: DemoAppOptions = {}) {
  const t = initTRPC.context<DemoContext>().create();
  const pubsub = createPubSub({
    topics: demoTopics(options.chatHistory),
    engine: options.engine,
    logger: options.logger,
    // A member's public info comes from the connection, never from what the subscriber claims.
    presence: { info: ({ ctx }: { ctx: unknown }) => ({ name: (ctx as DemoContext).name }) },
  });
  const router = t.router({
    hello: t.procedure.input(z.object({ name: z.string() })).query(({ input }) => `Hello, ${input.name}!`),
    ...topicProcedures(pubsub),
  });
  return { pubsub, router };
}

/** The demo's router (what the web app imports, types only). */
export type DemoRouter = ReturnType<typeof createDemoApp>['router'];
