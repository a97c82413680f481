/**
 * The types of the tRPC procedures built from the topics: what the stock
 * client sends and receives, end to end.
 * @module
 */
import type { TRPCMutationProcedure, TRPCProcedureBuilder, TRPCSubscriptionProcedure } from '@trpc/server';
import type * as z from 'zod/v4';
import type { GapSignal, PresenceUpdate, WireEvent } from '../../client/protocol.js';
import type { AnyTopic, TopicKey, TopicKeyInput, TopicPayload, TopicPayloadInput, TopicPresenceInfo, TopicRecord } from '../core/topics.js';

/** The event a tRPC subscriber of topic `N` receives inside `{ id, data }`. */
export type TopicWireEvent<N extends string, T extends AnyTopic> = WireEvent<TopicPayload<T>, TopicKey<T>> & { topic: N };

/**
 * What a tRPC client's `onData` gets: tRPC's tracked shape, `{ id, data }`
 * (the same as tRPC's `TrackedData`). `data` is an event, or (only right
 * after a resume that could not replay everything) a {@link GapSignal}:
 * narrow on `data.kind`.
 */
export interface TrackedEvent<TData> {
  /** Event id; wsLink resends the last one as `lastEventId` on reconnect. */
  id: string;
  /** The event. */
  data: TData;
}

/** Where a subscription starts: after `lastEventId` (resume), or with the newest `last` events of the history. */
export interface StartInput {
  /** Resume after this id (what `wsLink` resends on reconnect); wins over `last`. */
  lastEventId?: string;
  /** Start with the newest `last` events the history holds (1-1000), then live: a late joiner's recent messages. */
  last?: number;
}

/** Input of `<topic>.events`: a key (keyed topics; omit for every key) and the `lastEventId` wsLink resends. */
export type EventsInput<T extends AnyTopic> =
  | (T['key'] extends z.ZodType ? { key?: TopicKeyInput<T> } & StartInput : StartInput)
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

/** Input of `<topic>.presence`: the channel (`{ key }` on a keyed topic). */
export type PresenceInput<T extends AnyTopic> = T['key'] extends z.ZodType ? { key: TopicKeyInput<T> } : Record<string, never> | undefined;

/** The presence procedure of a topic that has presence. */
export type PresenceProcedures<T extends AnyTopic> = T['presence'] extends object
  ? {
      /** Subscription: `trpc.<topic>.presence.subscribe({ key }, { onData })`: the members, then each join and leave. */
      presence: TRPCSubscriptionProcedure<{
        input: PresenceInput<T>;
        output: AsyncIterable<PresenceUpdate<TopicPresenceInfo<T>>, void, unknown>;
        meta: unknown;
        errorShape: unknown;
      }>;
    }
  : unknown;

/** The procedures generated for one topic. */
export type TopicProcedures<N extends string, T extends AnyTopic> = PresenceProcedures<T> & {
  /** Subscription: `trpc.<topic>.events.subscribe({ key }, { onData })`. */
  events: TRPCSubscriptionProcedure<{
    input: EventsInput<T>;
    output: AsyncIterable<TrackedEvent<TopicWireEvent<N, T> | GapSignal>, void, unknown>;
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

/**
 * Any event of `TTopics` as a tRPC all-topics subscriber receives it. When
 * some topic keeps history, the tracked id is the all-topics cursor and the
 * event's own id is in `id` (PROTOCOL.md §4).
 */
export type AnyTopicWireEvent<TTopics extends TopicRecord> = {
  [N in keyof TTopics & string]: TopicWireEvent<N, TTopics[N]> & {
    /** The event's own id, when the tracked id is an all-topics cursor. */
    id?: string;
  };
}[keyof TTopics & string];

/** The record of procedures {@link topicProcedures} builds: one sub-router per topic, plus `allTopics`. */
export type TopicProceduresRecord<TTopics extends TopicRecord> = {
  [N in keyof TTopics & string]: TopicProcedures<N, TTopics[N]>;
} & {
  /** Every topic at once: `trpc.allTopics.events.subscribe(undefined, { onData })`. */
  allTopics: {
    events: TRPCSubscriptionProcedure<{
      input: StartInput | undefined;
      output: AsyncIterable<TrackedEvent<AnyTopicWireEvent<TTopics> | GapSignal>, void, unknown>;
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

