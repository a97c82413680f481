/**
 * The topics `trpc-pubsub serve` runs without a topics module, so that the
 * installed package works as is: `chat` (one channel per room), `news`,
 * `tick`.
 * @module
 */
import * as z from 'zod/v4';
import { defineTopics, topic } from '../core/topics.js';

/** The built-in topics of `serve`. */
export const defaultTopics = defineTopics({
  /** Chat messages, one channel per room; the last 100 of each room are kept. */
  chat: topic({
    key: z.string().min(1).max(64),
    payload: z.object({ user: z.string().min(1).max(64), text: z.string().min(1).max(2000) }),
    history: { maxEvents: 100 },
    description: 'chat messages, one channel per room',
  }),
  /** Headlines, one channel; the last 100 are kept. */
  news: topic({
    payload: z.object({ title: z.string().min(1).max(200) }),
    history: { maxEvents: 100 },
    description: 'headlines',
  }),
  /** A payload-less signal. */
  tick: topic({ description: 'a payload-less signal' }),
});
