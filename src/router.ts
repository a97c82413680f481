import {
  initTRPC,
  TRPCError,
  tracked,
  type TRPCMutationProcedure,
  type TRPCProcedureBuilder,
  type TRPCSubscriptionProcedure,
  type TrackedEnvelope,
} from '@trpc/server';
import * as z from 'zod/v4';
import {
  ALL_TOPICS,
  EVENT_ID_PATTERN,
  EVENTS_PROCEDURE,
  PUBLISH_PROCEDURE,
  type ChannelKey,
  type WireEvent,
} from '../client/protocol.js';
import type { PubSub, PubSubInternals } from './pubsub.js';
import { topicScope, type AllowedTopics, type SubscriptionScope } from './subscription-scope.js';
import type { AnyTopic, TopicKey, TopicKeyInput, TopicPayload, TopicPayloadInput, TopicRecord } from './topics.js';

/** The event a tRPC subscriber of topic `N` receives inside `{ id, data }`. */
export type TopicWireEvent<N extends string, T extends AnyTopic> = WireEvent<TopicPayload<T>, TopicKey<T>> & { topic: N };

/**
 * What a tRPC client's `onData` gets for a topic event: tRPC's tracked
 * shape, `{ id, data }` (the same as tRPC's `TrackedData`).
 */
export interface TrackedEvent<TData> {
  /** Event id; wsLink resends the last one as `lastEventId` on reconnect. */
  id: string;
  /** The event. */
  data: TData;
}

/** Input of `<topic>.events`: a key (keyed topics; omit for every key) and the `lastEventId` wsLink resends. */
export type EventsInput<T extends AnyTopic> =
  | (T['key'] extends z.ZodType ? { key?: TopicKeyInput<T>; lastEventId?: string } : { lastEventId?: string })
  | undefined;

/**
 * Input of `<topic>.publish`: `{ key, data }`; on a topic with neither key
 * nor payload it may be omitted (`trpc.tick.publish.mutate()`).
 */
export type PublishInput<T extends AnyTopic> = T['key'] extends z.ZodType
  ? { key: TopicKeyInput<T> } & (T['payload'] extends z.ZodType ? { data: TopicPayloadInput<T> } : { data?: undefined })
  : T['payload'] extends z.ZodType
    ? { data: TopicPayloadInput<T> }
    : { data?: undefined } | undefined;

/** Output of `<topic>.publish`: the id the event got. */
export interface PublishResult {
  /** Id of the published event. */
  id: string;
}

/** The procedures generated for one topic. */
export type TopicProcedures<N extends string, T extends AnyTopic> = {
  /** Subscription: `trpc.<topic>.events.subscribe({ key }, { onData })`. */
  events: TRPCSubscriptionProcedure<{
    input: EventsInput<T>;
    output: AsyncIterable<TrackedEvent<TopicWireEvent<N, T>>, void, unknown>;
    meta: unknown;
    errorShape: unknown;
  }>;
  /** Mutation: `trpc.<topic>.publish.mutate({ key, data })`. */
  publish: TRPCMutationProcedure<{
    input: PublishInput<T>;
    output: PublishResult;
    meta: unknown;
    errorShape: unknown;
  }>;
};

/** Any event of `TTopics` as a tRPC all-topics subscriber receives it. */
export type AnyTopicWireEvent<TTopics extends TopicRecord> = {
  [N in keyof TTopics & string]: TopicWireEvent<N, TTopics[N]>;
}[keyof TTopics & string];

/** The record of procedures {@link topicProcedures} builds: one sub-router per topic, plus `allTopics`. */
export type TopicProceduresRecord<TTopics extends TopicRecord> = {
  [N in keyof TTopics & string]: TopicProcedures<N, TTopics[N]>;
} & {
  /** Every topic at once: `trpc.allTopics.events.subscribe(undefined, { onData })`. */
  allTopics: {
    events: TRPCSubscriptionProcedure<{
      input: { lastEventId?: string } | undefined;
      output: AsyncIterable<TrackedEvent<AnyTopicWireEvent<TTopics>>, void, unknown>;
      meta: unknown;
      errorShape: unknown;
    }>;
  };
};

/**
 * Any tRPC procedure builder not bound to a caller (`t.procedure`,
 * `t.procedure.use(auth)`). Written with eight type arguments: tRPC 11.19
 * declares eight, later 11.x releases add a ninth with a default.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyBaseProcedure = TRPCProcedureBuilder<any, any, any, any, any, any, any, false>;

/** Options of {@link topicProcedures}. */
export interface TopicProceduresOptions {
  /**
   * The base procedure both `events` and `publish` are built on, so that the
   * application's middleware (auth, context) runs first.
   * @default initTRPC.create().procedure
   */
  procedure?: AnyBaseProcedure;
}

/** The scope of every all-topics subscription (read-only, shared). */
const ALL_TOPICS_SCOPE: SubscriptionScope = { kind: 'all' };

const lastEventIdSchema = z
  .string()
  .regex(EVENT_ID_PATTERN, 'lastEventId must be 1-128 characters of [A-Za-z0-9._:-]')
  .optional();

/**
 * The value a topic subscription procedure returns: a plain async iterable
 * for stock tRPC adapters and callers, which trpc-pubsub's own WebSocket
 * server recognises and serves from its per-channel index instead of
 * iterating it (one serialization per event, not per subscriber).
 */
export class TopicSubscription implements AsyncIterable<TrackedEnvelope<WireEvent>> {
  constructor(
    /** @internal */ readonly internals: PubSubInternals,
    /** What the subscription listens to. */
    readonly scope: SubscriptionScope,
    /** The caller's context. */
    readonly ctx: unknown,
    /** Aborts when the caller stops (stock adapters). */
    readonly signal: AbortSignal | undefined,
    /** For an all-topics subscription under `authorize`: the topics it may receive. */
    readonly allowedTopics?: AllowedTopics,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<TrackedEnvelope<WireEvent>> {
    return this.internals.iterate(
      this.scope,
      this.signal,
      { origin: 'trpc', ctx: this.ctx },
      (encoded) => tracked(encoded.event.id, encoded.wire),
      this.allowedTopics,
    );
  }
}

/**
 * Builds the tRPC procedures of every topic: `<topic>.events`
 * (subscription) and `<topic>.publish` (mutation), plus
 * `allTopics.events`. Spread or nest the record in your own router.
 * @example
 * ```ts
 * const appRouter = t.router({
 *   hello: t.procedure.query(() => 'world'),
 *   ...topicProcedures(pubsub, { procedure: authedProcedure }),
 * });
 * export type AppRouter = typeof appRouter;
 * ```
 */
export function topicProcedures<TTopics extends TopicRecord>(
  pubsub: PubSub<TTopics, never> | PubSub<TTopics, any>,
  options: TopicProceduresOptions = {},
): TopicProceduresRecord<TTopics> {
  const base: AnyBaseProcedure = options.procedure ?? initTRPC.create().procedure;
  const { internals } = pubsub;
  const record: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(pubsub.topics)) {
    record[name] = {
      [EVENTS_PROCEDURE]: eventsProcedure(base, internals, name, definition),
      [PUBLISH_PROCEDURE]: publishProcedure(base, internals, name, definition),
    };
  }
  record[ALL_TOPICS] = {
    [EVENTS_PROCEDURE]: base
      .input(readable(z.strictObject({ lastEventId: lastEventIdSchema }).optional(), `${ALL_TOPICS}.${EVENTS_PROCEDURE}`))
      .subscription(async ({ ctx, signal }: { ctx: unknown; signal: AbortSignal | undefined }) => {
        const allowed = await internals.allowedTopics(ctx);
        return new TopicSubscription(internals, ALL_TOPICS_SCOPE, ctx, signal, allowed);
      }),
  };
  return record as TopicProceduresRecord<TTopics>;
}

/**
 * A ready tRPC router holding only the topic procedures, for applications
 * without a router of their own.
 */
export function createPubSubRouter<TTopics extends TopicRecord>(pubsub: PubSub<TTopics, any>, options: TopicProceduresOptions = {}) {
  return initTRPC.create().router(topicProcedures(pubsub, options));
}

/**
 * Wraps a zod schema as a tRPC input parser whose failures are
 * `BAD_REQUEST` with a readable message naming the procedure and the field.
 */
function readable<T extends z.ZodType>(schema: T, procedure: string): (raw: unknown) => z.output<T> {
  return (raw) => {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    throw new TRPCError({ code: 'BAD_REQUEST', message: `Invalid input for ${procedure}: ${z.prettifyError(parsed.error)}`, cause: parsed.error });
  };
}

function eventsProcedure(base: AnyBaseProcedure, internals: PubSubInternals, name: string, definition: AnyTopic) {
  // Strict: a key sent to a topic without keys (or any unknown field) is refused, not silently dropped.
  const input =
    definition.key === undefined
      ? z.strictObject({ lastEventId: lastEventIdSchema }).optional()
      : z.strictObject({ key: definition.key.optional(), lastEventId: lastEventIdSchema }).optional();
  const keyed = definition.key !== undefined;
  // Scopes are read-only: subscriptions without a key share one (no object per subscriber).
  const keylessScope = topicScope(name, keyed, undefined);
  return base.input(readable(input, `${name}.${EVENTS_PROCEDURE}`)).subscription(
    async ({ ctx, input: parsed, signal }: { ctx: unknown; input: { key?: ChannelKey } | undefined; signal: AbortSignal | undefined }) => {
      // The key was validated by the input parser: build the scope without parsing it again.
      const key = parsed?.key;
      const scope = key === undefined ? keylessScope : topicScope(name, keyed, key);
      await internals.authorize({ ctx, topic: name, key, action: 'subscribe' });
      return new TopicSubscription(internals, scope, ctx, signal);
    },
  );
}

function publishProcedure(base: AnyBaseProcedure, internals: PubSubInternals, name: string, definition: AnyTopic) {
  const shape: Record<string, z.ZodType> = {
    data: definition.payload ?? z.undefined().optional(),
  };
  if (definition.key !== undefined) shape['key'] = definition.key;
  // Strict, as for `events`: `{ key }` on a topic without keys is refused, not published keyless.
  let input: z.ZodType = z.strictObject(shape);
  if (definition.payload === undefined && definition.key === undefined) input = z.strictObject(shape).optional();
  return base.input(readable(input, `${name}.${PUBLISH_PROCEDURE}`)).mutation(
    async ({ ctx, input: parsed }: { ctx: unknown; input: { data?: unknown; key?: ChannelKey } | undefined }): Promise<PublishResult> => {
      const key = parsed?.key;
      const payload = parsed?.data;
      await internals.authorize({ ctx, topic: name, key, action: 'publish', payload });
      const event = await internals.publishValidated(name, payload, key);
      return { id: event.id };
    },
  );
}
