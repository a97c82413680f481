import type * as z from 'zod/v4';
import { ALL_TOPICS, isValidTopicName, type ChannelKey } from '../../client/protocol.js';
import type { HistoryPolicy } from '../engine/engine.js';

export type { HistoryPolicy };

/** Any zod schema usable as a payload. */
export type PayloadSchema = z.ZodType;
/** A zod schema whose output is a channel key (a string or a number). */
export type KeySchema = z.ZodType<ChannelKey>;

/**
 * Presence of a topic: who is subscribed to each of its channels, with the
 * public info of each member. Its `info` schema checks (and types) what the
 * pubsub's `presence.info` builds from a subscriber's context.
 */
export interface PresencePolicy<TInfo extends PayloadSchema = PayloadSchema> {
  /** Schema of a member's public info (a name, an avatar: never a token). */
  info: TInfo;
}

/** Options of {@link topic}. */
export interface TopicOptions<
  TPayload extends PayloadSchema | undefined,
  TKey extends KeySchema | undefined,
  TPresence extends PresencePolicy | undefined = undefined,
> {
  /** Payload schema; omit it for a payload-less topic (events carry `payload: undefined`). */
  payload?: TPayload;
  /** Key schema: one channel per key (a chat room, a user). Omit it for a single-channel topic. */
  key?: TKey;
  /** Recent events kept per channel. Omit it to keep none. */
  history?: HistoryPolicy;
  /** Free text shown in docs and logs. */
  description?: string;
  /**
   * Opt in to presence: every tRPC subscription to one of the topic's
   * channels (a key's, for a keyed topic) is a member of it, and
   * `<topic>.presence` streams the members, then who joins and leaves.
   */
  presence?: TPresence;
}

/** A declared topic: its schemas and policy. Built by {@link topic}. */
export interface TopicDefinition<
  TPayload extends PayloadSchema | undefined = PayloadSchema | undefined,
  TKey extends KeySchema | undefined = KeySchema | undefined,
  TPresence extends PresencePolicy | undefined = PresencePolicy | undefined,
> {
  /** Payload schema, `undefined` for payload-less topics. */
  readonly payload: TPayload;
  /** Key schema, `undefined` for single-channel topics. */
  readonly key: TKey;
  /** History policy, `undefined` when the topic keeps no history. */
  readonly history: HistoryPolicy | undefined;
  /** Free text from the declaration. */
  readonly description: string | undefined;
  /** Presence policy, `undefined` when the topic has none. */
  readonly presence: TPresence;
}

/** Any topic definition, for generic constraints. */
export type AnyTopic = TopicDefinition<PayloadSchema | undefined, KeySchema | undefined, PresencePolicy | undefined>;
/** A record of topic definitions by name, as {@link defineTopics} returns it. */
export type TopicRecord = Record<string, AnyTopic>;

/** The payload type subscribers receive for a topic (`undefined` for payload-less topics). */
export type TopicPayload<T extends AnyTopic> = T['payload'] extends z.ZodType ? z.output<T['payload']> : undefined;
/** The payload type publishers pass for a topic (the schema's input type). */
export type TopicPayloadInput<T extends AnyTopic> = T['payload'] extends z.ZodType ? z.input<T['payload']> : undefined;
/** The key type of a keyed topic, `undefined` otherwise. */
export type TopicKey<T extends AnyTopic> = T['key'] extends z.ZodType ? z.output<T['key']> : undefined;
/** The key type publishers and subscribers pass (the key schema's input type). */
export type TopicKeyInput<T extends AnyTopic> = T['key'] extends z.ZodType ? z.input<T['key']> : undefined;
/** The info type of a topic's presence members (`never` for topics without presence). */
export type TopicPresenceInfo<T extends AnyTopic> = T['presence'] extends PresencePolicy<infer S> ? z.output<S> : never;

/**
 * Declares one topic.
 * @example
 * ```ts
 * const chat = topic({
 *   key: z.string().min(1),                       // one channel per room
 *   payload: z.object({ user: z.string(), text: z.string().max(2000) }),
 *   history: { maxEvents: 100, maxAgeMs: 60_000 },
 * });
 * ```
 */
export function topic<
  TPayload extends PayloadSchema | undefined = undefined,
  TKey extends KeySchema | undefined = undefined,
  TPresence extends PresencePolicy | undefined = undefined,
>(options: TopicOptions<TPayload, TKey, TPresence> = {}): TopicDefinition<TPayload, TKey, TPresence> {
  const { history, presence } = options;
  assertZod4Schema(options.payload, 'payload');
  assertZod4Schema(options.key, 'key');
  if (presence !== undefined) {
    if (typeof presence !== 'object' || presence === null) throw new TypeError('topic(): presence must be { info: <zod schema> }');
    assertZod4Schema(presence.info, 'presence.info');
  }
  if (history !== undefined) {
    if (!Number.isInteger(history.maxEvents) || history.maxEvents < 1) {
      throw new TypeError(`history.maxEvents must be an integer ≥ 1, got ${String(history.maxEvents)}`);
    }
    if (history.maxAgeMs !== undefined && !(history.maxAgeMs > 0)) {
      throw new TypeError(`history.maxAgeMs must be > 0, got ${String(history.maxAgeMs)}`);
    }
  }
  return Object.freeze({
    payload: options.payload as TPayload,
    key: options.key as TKey,
    history: history === undefined ? undefined : Object.freeze({ ...history }),
    description: options.description,
    presence: (presence === undefined ? undefined : Object.freeze({ info: presence.info })) as TPresence,
  });
}

/** The zod versions whose schemas {@link topic} takes, as error messages name them. */
const SUPPORTED_ZOD = 'zod ^4.0.0, or zod ^3.25.76 through `import * as z from "zod/v4"`';

/**
 * Refuses, at definition time, a schema that is not a zod 4 schema (a zod 3
 * "classic" schema, a valibot schema, a plain object), so that the mistake
 * surfaces once at start-up instead of as a failed parse on every request.
 */
function assertZod4Schema(schema: unknown, field: 'payload' | 'key' | 'presence.info'): void {
  if (schema === undefined) return;
  const candidate = schema as { _zod?: unknown; _def?: unknown; safeParse?: unknown } | null;
  const isObject = typeof schema === 'object' && schema !== null;
  if (isObject && candidate?._zod !== undefined && typeof candidate.safeParse === 'function') return;
  const what =
    isObject && candidate?._def !== undefined && typeof candidate.safeParse === 'function'
      ? 'a zod 3 schema'
      : `not a zod 4 schema (${schema === null ? 'null' : typeof schema})`;
  throw new TypeError(`topic(): the ${field} schema is ${what}; trpc-pubsub takes ${SUPPORTED_ZOD}`);
}

/** Topic names a record may not use (they collide with the router's own keys). */
type ReservedTopicName = typeof ALL_TOPICS;

/**
 * Declares the application's topics at once and checks their names
 * (a letter, then letters, digits or `_`; `allTopics` is reserved).
 * @example
 * ```ts
 * export const topics = defineTopics({ chat, news: topic({ payload: z.string() }), tick: topic() });
 * ```
 */
export function defineTopics<const T extends TopicRecord>(
  topics: T & { [K in ReservedTopicName]?: never },
): T {
  for (const name of Object.keys(topics)) {
    if (!isValidTopicName(name)) {
      throw new TypeError(
        `Invalid topic name ${JSON.stringify(name)}: use a letter, then letters, digits or "_" (max 64), and not "${ALL_TOPICS}"`,
      );
    }
  }
  return Object.freeze({ ...topics });
}
