import type { AnyTRPCRouter } from '@trpc/server';
import type { GapSignal, PresenceUpdate, PubSubEvent } from './protocol.js';

type RecordOf<TRouter extends AnyTRPCRouter> = TRouter['_def']['record'];
type InputOf<TProcedure> = TProcedure extends { _def: { $types: { input: infer $Input } } } ? $Input : never;
type OutputOf<TProcedure> = TProcedure extends { _def: { $types: { output: infer $Output } } } ? $Output : never;
type IsTopicRouter<T> = T extends { events: { _def: { type: 'subscription' } }; publish: { _def: { type: 'mutation' } } } ? true : false;

/** Names of the topics an `AppRouter` serves (top-level `topicProcedures` entries). */
export type TopicNamesOf<TRouter extends AnyTRPCRouter> = {
  [K in keyof RecordOf<TRouter> & string]: IsTopicRouter<RecordOf<TRouter>[K]> extends true ? K : never;
}[keyof RecordOf<TRouter> & string];

type EventsInput<TRouter extends AnyTRPCRouter, N extends string> = InputOf<RecordOf<TRouter>[N]['events']>;
type EventsOutput<TRouter extends AnyTRPCRouter, N extends string> = OutputOf<RecordOf<TRouter>[N]['events']>;
type PublishInput<TRouter extends AnyTRPCRouter, N extends string> = InputOf<RecordOf<TRouter>[N]['publish']>;
/** What a topic subscription yields that is an event (control signals such as a gap are handled by the client). */
type YieldOf<TOutput> = TOutput extends AsyncIterable<{ id: string; data: infer $Data }, any, any> ? Extract<$Data, { kind: 'event' }> : never;

/** The event a client callback receives for topic `N`. */
export type TopicEventOf<TRouter extends AnyTRPCRouter, N extends string> = YieldOf<EventsOutput<TRouter, N>> & { id: string };

/** Every topic's event, for `subscribeAll`. */
export type AnyTopicEventOf<TRouter extends AnyTRPCRouter> = RecordOf<TRouter> extends { allTopics: { events: infer $Events } }
  ? YieldOf<OutputOf<$Events>> & { id: string }
  : PubSubEvent;

type KeyOf<TInput> = TInput extends { key?: infer $Key } ? $Key : never;

/**
 * Options every convenience-client subscription takes (`subscribe` on any
 * topic, and `subscribeAll`).
 */
export interface SubscriptionOptions {
  /**
   * Resume after this event id (e.g. one the app persisted); sent as the
   * input's `lastEventId`. The server replays what it still keeps after it,
   * or sends a {@link GapSignal} when it cannot.
   */
  lastEventId?: string;
  /**
   * Start with the newest `last` events the topic's history holds (1-1000),
   * then live: a chat room's recent messages for a late joiner. Ignored when
   * resuming (after `lastEventId`, or after a reconnect).
   */
  last?: number;
  /**
   * The server could not replay everything after `lastEventId` (live events
   * follow). Takes precedence over the client's `onGap`; without either the
   * client logs a `console.warn`. A throw is reported on `console.error`.
   */
  onGap?: (gap: GapSignal) => void;
}

/**
 * Options of `client.subscribe(topic, options, cb)`: {@link SubscriptionOptions},
 * plus `{ key }` on keyed topics.
 */
export type SubscribeOptionsOf<TRouter extends AnyTRPCRouter, N extends string> = [
  KeyOf<NonNullable<EventsInput<TRouter, N>>>,
] extends [never]
  ? SubscriptionOptions
  : SubscriptionOptions & { key?: KeyOf<NonNullable<EventsInput<TRouter, N>>> };

/** Arguments after the topic of `client.publish`. */
export type PublishArgsOf<TRouter extends AnyTRPCRouter, N extends string> =
  NonNullable<PublishInput<TRouter, N>> extends infer $Input
    ? $Input extends { key: infer $Key; data: infer $Data }
      ? [data: $Data, options: { key: $Key }]
      : $Input extends { key: infer $Key; data?: undefined }
        ? [data: undefined, options: { key: $Key }]
        : $Input extends { data: infer $Data }
          ? [data: $Data]
          : [data?: undefined]
    : never;

type PresenceOutput<TRouter extends AnyTRPCRouter, N extends string> = RecordOf<TRouter>[N] extends { presence: infer $Procedure } ? OutputOf<$Procedure> : never;

/** Names of the topics of an `AppRouter` that have presence (`<topic>.presence`). */
export type PresenceTopicNamesOf<TRouter extends AnyTRPCRouter> = {
  [N in TopicNamesOf<TRouter>]: [PresenceOutput<TRouter, N>] extends [never] ? never : N;
}[TopicNamesOf<TRouter>];

/** What `client.presence(N, …)` hears: the members, then joins and leaves, with the topic's info type. */
export type PresenceUpdateOf<TRouter extends AnyTRPCRouter, N extends string> =
  PresenceOutput<TRouter, N> extends AsyncIterable<infer $Update, any, any> ? $Update : PresenceUpdate;

/** Options of `client.presence(N, options, onUpdate)`: `{ key }` on keyed topics. */
export type PresenceOptionsOf<TRouter extends AnyTRPCRouter, N extends string> = [KeyOf<NonNullable<EventsInput<TRouter, N>>>] extends [never]
  ? Record<string, never>
  : { key: Exclude<KeyOf<NonNullable<EventsInput<TRouter, N>>>, undefined> };
