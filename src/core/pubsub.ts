/**
 * The public server-side API of one instance: typed publish, subscribe
 * and iterate over the declared topics. A thin typed face over
 * {@link PubSubCore}, which does the work.
 * @module
 */
import type * as z from 'zod/v4';
import { TRPCError } from '@trpc/server';
import type { PresenceMember, PresenceUpdate, PubSubEvent } from '../../client/protocol.js';
import type { Engine } from '../engine/engine.js';
import type { AuthorizeRequest } from './authorize.js';
import { PubSubCore, type CoreHealth, type CoreState } from './core.js';
import { describeTopics, type TopicDescription } from './describe.js';
import { CallbackSubscription, openQueue, QueueSubscription } from './local-subscriptions.js';
import type { Logger } from './logger.js';
import type { PresenceOptions } from './presence.js';
import type { SubscriptionScope } from './scope.js';
import type { SubscriptionInfo } from './subscription.js';
import type { AnyTopic, TopicKey, TopicKeyInput, TopicPayload, TopicPayloadInput, TopicPresenceInfo, TopicRecord } from './topics.js';

export type { AuthorizeRequest } from './authorize.js';
export type { PresenceInfoRequest, PresenceOptions } from './presence.js';
export type { SubscriptionInfo } from './subscription.js';

/** The event type server code receives for topic `N` of `TTopics`. */
export type TopicEventOf<TTopics extends TopicRecord, N extends keyof TTopics & string> = PubSubEvent<
  TopicPayload<TTopics[N]>,
  TopicKey<TTopics[N]>
> & { topic: N };

/** Any event of `TTopics` (what an all-topics subscription receives), discriminated by `topic`. */
export type AnyTopicEventOf<TTopics extends TopicRecord> = {
  [N in keyof TTopics & string]: TopicEventOf<TTopics, N>;
}[keyof TTopics & string];

/** The arguments after the topic name of {@link PubSub.publish}. */
export type PublishArgs<T extends AnyTopic> = T['key'] extends z.ZodType
  ? [payload: TopicPayloadInput<T>, options: { key: TopicKeyInput<T> }]
  : T['payload'] extends z.ZodType
    ? [payload: TopicPayloadInput<T>]
    : [payload?: undefined];

/** Options of a server-side subscription. */
export type SubscribeOptions<T extends AnyTopic> = T['key'] extends z.ZodType
  ? {
      /** One key's channel; omit it for every key of the topic. */
      key?: TopicKeyInput<T>;
    }
  : Record<string, never>;

/** The names of the topics of `TTopics` that have presence. */
export type PresenceTopicNames<TTopics extends TopicRecord> = {
  [N in keyof TTopics & string]: TTopics[N]['presence'] extends object ? N : never;
}[keyof TTopics & string];

/** Which channel of a topic with presence: `{ key }` on a keyed topic, nothing otherwise. */
export type PresenceChannelArgs<T extends AnyTopic> = T['key'] extends z.ZodType ? [options: { key: TopicKeyInput<T> }] : [options?: Record<string, never>];

/** A server-side subscription handle: call it, `unsubscribe()` it or `using` it. */
export interface Unsubscribe {
  (): void;
  /** Stops delivery at once; safe to call twice. */
  unsubscribe(): void;
  [Symbol.dispose](): void;
}

/** Options of {@link createPubSub}. */
export interface PubSubOptions<TTopics extends TopicRecord, TContext = unknown> {
  /** The topics, from `defineTopics`. */
  topics: TTopics;
  /**
   * Carries events between instances.
   * @default memoryEngine() (one process)
   */
  engine?: Engine;
  /**
   * Decides whether a tRPC caller may subscribe or publish. Return `false`
   * to refuse with `FORBIDDEN`; throw a `TRPCError` to refuse with its code.
   * Any other throw refuses with `INTERNAL_SERVER_ERROR` (and is logged).
   * Server-side `publish`/`subscribe` are trusted and skip it.
   * @default every call allowed
   */
  authorize?: (request: AuthorizeRequest<TContext>) => boolean | Promise<boolean>;
  /** Called when a subscription starts; a throw is logged and ignored. */
  onSubscribe?: (info: SubscriptionInfo) => void;
  /** Called when a subscription ends; a throw is logged and ignored. */
  onUnsubscribe?: (info: SubscriptionInfo) => void;
  /**
   * Most undelivered events a server-side iterator (`events()`, or a
   * subscription served by a stock tRPC adapter) holds before it fails with
   * `TOO_MANY_REQUESTS`.
   * @default 10_000
   */
  maxQueuedPerIterator?: number;
  /**
   * Presence of the topics that opt in (`topic({ presence: { info } })`):
   * how a member's public info is built from its context, and how long a
   * member outlives its instance.
   * @example
   * ```ts
   * presence: { info: ({ ctx }) => ({ name: ctx.user.name }) }
   * ```
   */
  presence?: PresenceOptions<TContext>;
  /** Where logs go. @default JSON lines on stderr at `info` (`TRPC_PUBSUB_LOG_LEVEL` overrides) */
  logger?: Logger;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/**
 * The publish/subscribe hub of one server instance: validates and routes
 * events to local subscribers through its engine, which gives them ids and
 * keeps their history.
 */
export class PubSub<TTopics extends TopicRecord, TContext = unknown> {
  /** The declared topics. */
  readonly topics: TTopics;
  /** The transport-free core (for the router and transports). */
  readonly core: PubSubCore;

  constructor(options: PubSubOptions<TTopics, TContext>) {
    this.topics = options.topics;
    this.core = new PubSubCore(options as PubSubOptions<TTopics, never>);
  }

  /** The engine carrying events between instances. */
  get engine(): Engine {
    return this.core.engine;
  }

  /** Unique id of this instance. */
  get instanceId(): string {
    return this.core.instanceId;
  }

  /** `open`, or `closed` once {@link close} was called. */
  get state(): CoreState {
    return this.core.state;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.core.state === 'closed';
  }

  /** Resolves once the engine has started (immediately for the memory engine). */
  ready(): Promise<void> {
    return this.core.ready();
  }

  /**
   * Publishes an event from server code: validates the payload (and key)
   * against the topic's schemas and hands it to the engine, which gives it
   * its id and keeps it in the topic's history.
   * @returns the published event (with its id).
   * @throws TRPCError `NOT_FOUND` for an unknown topic, `BAD_REQUEST` for an
   *   invalid payload or key, `SERVICE_UNAVAILABLE` when the engine cannot take it.
   * @example
   * ```ts
   * await pubsub.publish('news', { title: 'Hello' });
   * await pubsub.publish('chat', { user: 'ann', text: 'hi' }, { key: 'room-1' });
   * ```
   */
  publish<N extends keyof TTopics & string>(topic: N, ...args: PublishArgs<TTopics[N]>): Promise<TopicEventOf<TTopics, N>> {
    const [payload, options] = args as [unknown, { key?: unknown } | undefined];
    let valid;
    try {
      valid = this.core.topics.publish(topic, payload, options?.key);
    } catch (error) {
      // Every refusal rejects the returned promise (never a synchronous throw), so `.catch()` sees it.
      return Promise.reject(error as Error);
    }
    return this.core.publish(topic, valid) as Promise<TopicEventOf<TTopics, N>>;
  }

  /**
   * Subscribes server code with a callback, called synchronously for each
   * event (a throw is logged; other subscribers are unaffected).
   * @example
   * ```ts
   * const stop = pubsub.subscribe('chat', { key: 'room-1' }, (event) => save(event));
   * stop(); // or `using sub = pubsub.subscribe(…)`
   * ```
   */
  subscribe<N extends keyof TTopics & string>(
    topic: N,
    options: SubscribeOptions<TTopics[N]>,
    callback: (event: TopicEventOf<TTopics, N>) => void,
  ): Unsubscribe;
  subscribe<N extends keyof TTopics & string>(topic: N, callback: (event: TopicEventOf<TTopics, N>) => void): Unsubscribe;
  subscribe(topic: string, optionsOrCallback: unknown, maybeCallback?: unknown): Unsubscribe {
    const callback = (typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback) as
      | ((event: PubSubEvent) => void)
      | undefined;
    const options = (typeof optionsOrCallback === 'function' ? {} : (optionsOrCallback ?? {})) as { key?: unknown };
    if (typeof callback !== 'function') throw new TypeError('subscribe needs a callback');
    return this.#subscribeCallback(this.core.topics.scopeOf(topic, options.key), callback);
  }

  /** Subscribes server code to every topic at once (the Python library's `ALL_TOPICS`). */
  subscribeAll(callback: (event: AnyTopicEventOf<TTopics>) => void): Unsubscribe {
    return this.#subscribeCallback({ kind: 'all' }, callback as (event: PubSubEvent) => void);
  }

  /**
   * Subscribes server code as an async iterator. Ends when `signal` aborts
   * or the loop breaks; fails with `TOO_MANY_REQUESTS` if it falls more than
   * `maxQueuedPerIterator` events behind (never drops silently).
   * @example
   * ```ts
   * for await (const event of pubsub.events('chat', { key: 'room-1', signal })) console.log(event.payload);
   * ```
   */
  events<N extends keyof TTopics & string>(
    topic: N,
    options?: SubscribeOptions<TTopics[N]> & { signal?: AbortSignal },
  ): AsyncIterableIterator<TopicEventOf<TTopics, N>> & AsyncDisposable {
    const opts = (options ?? {}) as { key?: unknown; signal?: AbortSignal };
    return this.#iterate(this.core.topics.scopeOf(topic, opts.key), opts.signal) as AsyncIterableIterator<TopicEventOf<TTopics, N>> &
      AsyncDisposable;
  }

  /** Every topic's events as an async iterator (see {@link events}). */
  allEvents(options?: { signal?: AbortSignal }): AsyncIterableIterator<AnyTopicEventOf<TTopics>> & AsyncDisposable {
    return this.#iterate({ kind: 'all' }, options?.signal) as AsyncIterableIterator<AnyTopicEventOf<TTopics>> & AsyncDisposable;
  }

  /**
   * Who is in one channel of a topic with presence now, on every instance,
   * oldest first.
   * @throws TRPCError `NOT_FOUND` for a topic without presence, `BAD_REQUEST` for an invalid key.
   * @example
   * ```ts
   * const members = await pubsub.members('chat', { key: 'lobby' }); // [{ id, info: { name }, joinedAt }]
   * ```
   */
  members<N extends PresenceTopicNames<TTopics>>(
    topic: N,
    ...args: PresenceChannelArgs<TTopics[N]>
  ): Promise<PresenceMember<TopicPresenceInfo<TTopics[N]>>[]> {
    try {
      const key = this.#presenceKey(topic, args[0]);
      return this.core.presence.members(topic, key) as Promise<PresenceMember<TopicPresenceInfo<TTopics[N]>>[]>;
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * Watches one channel's presence from server code: its members, then
   * every join and leave (what `<topic>.presence` streams), until `signal`
   * aborts or the loop breaks.
   */
  presence<N extends PresenceTopicNames<TTopics>>(
    topic: N,
    options: (TTopics[N]['key'] extends z.ZodType ? { key: TopicKeyInput<TTopics[N]> } : Record<string, never>) & { signal?: AbortSignal },
  ): AsyncIterableIterator<PresenceUpdate<TopicPresenceInfo<TTopics[N]>>> & AsyncDisposable {
    const { signal, ...channel } = options as { key?: unknown; signal?: AbortSignal };
    const key = this.#presenceKey(topic, channel);
    return this.core.presence.watch(topic, key, signal) as AsyncIterableIterator<PresenceUpdate<TopicPresenceInfo<TTopics[N]>>> & AsyncDisposable;
  }

  /**
   * The declared topics: name, key, history policy and the payload and key
   * schemas as JSON Schema (what the server's `GET /topics` answers).
   */
  describe(): TopicDescription[] {
    return describeTopics(this.core.topics);
  }

  /** Engine health plus local counts. */
  health(): CoreHealth {
    return this.core.health();
  }

  /** {@link health}, with the engine part from one bounded round trip to the broker (see `PubSubCore.checkHealth`). */
  checkHealth(): Promise<CoreHealth> {
    return this.core.checkHealth();
  }

  /** Stops the engine. Local subscribers get nothing more. Safe to call twice. */
  async close(): Promise<void> {
    await this.core.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The channel key of a presence call, checked: the topic has presence, and a keyed topic gets a valid key. */
  #presenceKey(topic: string, options: { key?: unknown } | undefined) {
    const scope = this.core.topics.scopeOf(topic, options?.key);
    if (this.core.topics.find(topic)?.definition.presence === undefined) {
      throw new TRPCError({ code: 'NOT_FOUND', message: `Topic "${topic}" has no presence (declare it with topic({ presence: { info } }))` });
    }
    if (scope.kind !== 'channel') throw new TRPCError({ code: 'BAD_REQUEST', message: `Presence of "${topic}" is per key: give { key }` });
    return scope.key;
  }

  #iterate(scope: SubscriptionScope, signal: AbortSignal | undefined): AsyncIterableIterator<PubSubEvent> & AsyncDisposable {
    return openQueue(new QueueSubscription<PubSubEvent>(this.core, scope, 'server', undefined, undefined, signal, SERVER_ITEMS));
  }

  #subscribeCallback(scope: SubscriptionScope, callback: (event: PubSubEvent) => void): Unsubscribe {
    const subscription = new CallbackSubscription(this.core, scope, callback);
    void subscription.open();
    const remove = () => subscription.close();
    const unsubscribe = (() => remove()) as Unsubscribe;
    unsubscribe.unsubscribe = remove;
    unsubscribe[Symbol.dispose] = remove;
    return unsubscribe;
  }
}

/** Server-side iterators yield plain events (they never resume, so never see a gap). */
const SERVER_ITEMS = {
  event: (encoded: { event: PubSubEvent }) => encoded.event,
  gap: (): never => {
    throw new Error('server-side iterators do not resume');
  },
};

/**
 * Creates the pubsub hub for `topics`.
 * @example
 * ```ts
 * const pubsub = createPubSub({ topics });
 * await pubsub.publish('news', { title: 'Hello' });
 * ```
 */
export function createPubSub<TTopics extends TopicRecord, TContext = unknown>(
  options: PubSubOptions<TTopics, TContext>,
): PubSub<TTopics, TContext> {
  return new PubSub(options);
}
