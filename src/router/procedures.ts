/**
 * Builds the tRPC procedures of the topics: `<topic>.events` (subscription),
 * `<topic>.publish` (mutation) and `allTopics.events`, on the application's
 * base procedure. Inputs are checked here (strict objects, readable
 * `BAD_REQUEST`s); everything else is the core's.
 * @module
 */
import { initTRPC, TRPCError } from '@trpc/server';
import * as z from 'zod/v4';
import { ALL_TOPICS, EVENT_ID_PATTERN, EVENTS_PROCEDURE, PRESENCE_PROCEDURE, PUBLISH_PROCEDURE, type ChannelKey } from '../../client/protocol.js';
import type { PubSubCore } from '../core/core.js';
import type { PubSub } from '../core/pubsub.js';
import { topicScope, type SubscriptionScope } from '../core/scope.js';
import { markTopicSubscription, SubscriptionRequest } from '../core/subscription-request.js';
import { MAX_TOPIC_CURSOR_LENGTH, TOPIC_CURSOR_PREFIX } from '../core/topic-cursor.js';
import type { CheckedTopic } from '../core/validate.js';
import type { TopicRecord } from '../core/topics.js';
import type { AnyBaseProcedure, PublishResult, TopicProceduresOptions, TopicProceduresRecord } from './types.js';

/** The scope of every all-topics subscription (read-only, shared). */
const ALL_TOPICS_SCOPE: SubscriptionScope = { kind: 'all' };

const lastEventIdSchema = z
  .string()
  .regex(EVENT_ID_PATTERN, 'lastEventId must be 1-128 characters of [A-Za-z0-9._:-]')
  .optional();

/** An all-topics subscription resumes from an event id or from its cursor (PROTOCOL.md §4). */
const allTopicsLastEventIdSchema = z
  .string()
  .refine(
    (id) => EVENT_ID_PATTERN.test(id) || (id.startsWith(TOPIC_CURSOR_PREFIX) && id.length <= MAX_TOPIC_CURSOR_LENGTH && CURSOR_ALPHABET.test(id)),
    `lastEventId must be an event id (1-128 characters of [A-Za-z0-9._:-]) or an all-topics cursor (up to ${MAX_TOPIC_CURSOR_LENGTH} characters)`,
  )
  .optional();
const CURSOR_ALPHABET = /^[A-Za-z0-9._:-]+$/;

/** Most events `last` may ask for. */
export const MAX_LAST = 1000;
const lastSchema = z.number().int().min(1).max(MAX_LAST).optional();

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
  const { core } = pubsub;
  const record: Record<string, unknown> = {};
  for (const name of core.topics.names) {
    const topic = core.topics.topic(name);
    record[name] = {
      [EVENTS_PROCEDURE]: eventsProcedure(base, core, topic),
      [PUBLISH_PROCEDURE]: publishProcedure(base, core, topic),
      ...(topic.definition.presence === undefined ? {} : { [PRESENCE_PROCEDURE]: presenceProcedure(base, core, topic) }),
    };
  }
  record[ALL_TOPICS] = {
    [EVENTS_PROCEDURE]: markTopicSubscription(base
      .input(readable(z.strictObject({ lastEventId: allTopicsLastEventIdSchema, last: lastSchema }).optional(), `${ALL_TOPICS}.${EVENTS_PROCEDURE}`))
      .subscription(
        async ({
          ctx,
          input,
          signal,
        }: {
          ctx: unknown;
          input: { lastEventId?: string; last?: number } | undefined;
          signal: AbortSignal | undefined;
        }) => {
          const allowed = await core.authorizer.allowedTopics(ctx);
          return new SubscriptionRequest(core, ALL_TOPICS_SCOPE, ctx, signal, allowed, input?.lastEventId, input?.last);
        },
      )),
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

function eventsProcedure(base: AnyBaseProcedure, core: PubSubCore, topic: CheckedTopic) {
  const { name } = topic;
  // Strict: a key sent to a topic without keys (or any unknown field) is refused, not silently dropped.
  const input =
    topic.key === undefined
      ? z.strictObject({ lastEventId: lastEventIdSchema, last: lastSchema }).optional()
      : z.strictObject({ key: topic.key.optional(), lastEventId: lastEventIdSchema, last: lastSchema }).optional();
  const keyed = topic.key !== undefined;
  // Scopes are read-only: subscriptions without a key share one (no object per subscriber).
  const keylessScope = topicScope(name, keyed, undefined);
  return markTopicSubscription(base.input(readable(input, `${name}.${EVENTS_PROCEDURE}`)).subscription(
    async ({
      ctx,
      input: parsed,
      signal,
    }: {
      ctx: unknown;
      input: { key?: ChannelKey; lastEventId?: string; last?: number } | undefined;
      signal: AbortSignal | undefined;
    }) => {
      // The key was validated by the input parser: build the scope without parsing it again.
      const key = parsed?.key;
      const scope = key === undefined ? keylessScope : topicScope(name, keyed, key);
      await core.authorizer.check({ ctx, topic: name, key, action: 'subscribe' });
      return new SubscriptionRequest(core, scope, ctx, signal, undefined, parsed?.lastEventId, parsed?.last);
    },
  ));
}

function publishProcedure(base: AnyBaseProcedure, core: PubSubCore, topic: CheckedTopic) {
  const { name } = topic;
  const payload = topic.definition.payload;
  const shape: Record<string, z.ZodType> = { data: payload ?? z.undefined().optional() };
  if (topic.key !== undefined) shape['key'] = topic.key;
  // Strict, as for `events`: `{ key }` on a topic without keys is refused, not published keyless.
  let input: z.ZodType = z.strictObject(shape);
  if (payload === undefined && topic.key === undefined) input = z.strictObject(shape).optional();
  return base.input(readable(input, `${name}.${PUBLISH_PROCEDURE}`)).mutation(
    async ({ ctx, input: parsed }: { ctx: unknown; input: { data?: unknown; key?: ChannelKey } | undefined }): Promise<PublishResult> => {
      const key = parsed?.key;
      const data = parsed?.data;
      await core.authorizer.check({ ctx, topic: name, key, action: 'publish', payload: data });
      const event = await core.publish(name, { payload: data, key });
      return { id: event.id };
    },
  );
}

function presenceProcedure(base: AnyBaseProcedure, core: PubSubCore, topic: CheckedTopic) {
  const { name } = topic;
  // A keyed topic's presence is per key: the key is required.
  const input = topic.key === undefined ? z.strictObject({}).optional() : z.strictObject({ key: topic.key });
  return base.input(readable(input, `${name}.${PRESENCE_PROCEDURE}`)).subscription(
    async ({ ctx, input: parsed, signal }: { ctx: unknown; input: { key?: ChannelKey } | undefined; signal: AbortSignal | undefined }) => {
      const key = parsed?.key;
      await core.authorizer.check({ ctx, topic: name, key, action: 'subscribe' });
      return core.presence.watch(name, key, signal);
    },
  );
}
