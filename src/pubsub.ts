import { randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import * as z from 'zod/v4';
import { ALL_TOPICS, type ChannelKey, type PubSubEvent } from '../client/protocol.js';
import { ChannelIndex, type Sink } from './channel-index.js';
import { EncodedEvent } from './encoded-event.js';
import type { Engine, EngineHealth } from './engine/engine.js';
import { memoryEngine } from './engine/memory.js';
import { DEFAULT_MAX_QUEUED, EventQueue } from './event-queue.js';
import { MemoryHistory } from './history.js';
import { createConsoleLogger, type Logger } from './logger.js';
import { allowsEvent, channelName, scopeName, topicScope, type AllowedTopics, type SubscriptionScope } from './subscription-scope.js';
import type { AnyTopic, TopicKey, TopicKeyInput, TopicPayload, TopicPayloadInput, TopicRecord } from './topics.js';

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

/** A server-side subscription handle: call it, `unsubscribe()` it or `using` it. */
export interface Unsubscribe {
  (): void;
  /** Stops delivery at once; safe to call twice. */
  unsubscribe(): void;
  [Symbol.dispose](): void;
}

/** Who asks, for what, in {@link PubSubOptions.authorize}. */
export interface AuthorizeRequest<TContext> {
  /** The tRPC context of the caller (after the base procedure's middleware). */
  ctx: TContext;
  /**
   * The topic. An all-topics subscription asks once per declared topic
   * (with `key: undefined`) and then receives only the allowed topics.
   */
  topic: string;
  /**
   * The key asked for; `undefined` for an unkeyed topic **or for every key
   * of a keyed topic** (a subscription without key): a per-key rule must
   * decide what `undefined` means (usually: refuse).
   */
  key: ChannelKey | undefined;
  /** What the caller wants to do. */
  action: 'subscribe' | 'publish';
  /** The validated payload, for `publish`. */
  payload?: unknown;
}

/** A subscription that began or ended, as the hooks see it. */
export interface SubscriptionInfo {
  /** What it listens to. */
  scope: SubscriptionScope;
  /** Where it comes from: a WebSocket client, a tRPC caller/other adapter, or server code. */
  origin: 'websocket' | 'trpc' | 'server';
  /** The caller's tRPC context, when it came through tRPC. */
  ctx?: unknown;
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
  /** Where logs go. @default JSON lines on stderr at `info` (`TRPC_PUBSUB_LOG_LEVEL` overrides) */
  logger?: Logger;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** What the WebSocket server and the router need from the pubsub; not for application code. */
export interface PubSubInternals {
  readonly logger: Logger;
  /** Adds a sink to `scope`, running the `onSubscribe` hook; {@link detach} takes it out. */
  attach(scope: SubscriptionScope, sink: Sink, info: Omit<SubscriptionInfo, 'scope'>): void;
  /**
   * Takes a sink {@link attach} added out of `scope`, running the
   * `onUnsubscribe` hook with `info`; does nothing the second time.
   * (No remover closure per subscription: an idle subscription is one small
   * object.)
   */
  detach(scope: SubscriptionScope, sink: Sink, info: Omit<SubscriptionInfo, 'scope'>): void;
  /**
   * A bounded async iterator over `scope` (see `PubSub.events`): `toItem`
   * turns each event into what it yields; only `allowed` topics are kept.
   */
  iterate<T>(
    scope: SubscriptionScope,
    signal: AbortSignal | undefined,
    info: Omit<SubscriptionInfo, 'scope'>,
    toItem: (encoded: EncodedEvent) => T,
    allowed?: AllowedTopics,
  ): EventQueue<T>;
  /** Runs the `authorize` option; throws `FORBIDDEN` when refused. */
  authorize(request: AuthorizeRequest<unknown>): Promise<void>;
  /**
   * The topics an all-topics subscriber may see: `authorize` is asked once
   * per declared topic (key `undefined`: every key). `undefined` when there
   * is no `authorize` (every topic); throws `FORBIDDEN` when none is allowed.
   */
  allowedTopics(ctx: unknown): Promise<AllowedTopics>;
  /** The engine's broker subscription for `scope` while it is in flight (never rejects), else `undefined`. */
  whenListening(scope: SubscriptionScope): Promise<void> | undefined;
  /** Publishes an already validated payload. */
  publishValidated(topic: string, payload: unknown, key: ChannelKey | undefined): Promise<PubSubEvent>;
}

/**
 * The publish/subscribe hub of one server instance: validates, stamps,
 * stores and routes events to local subscribers through its engine.
 */
export class PubSub<TTopics extends TopicRecord, TContext = unknown> {
  /** The declared topics. */
  readonly topics: TTopics;
  /** The engine carrying events between instances. */
  readonly engine: Engine;
  /** Recent events per channel, for topics with a history policy. */
  readonly history: MemoryHistory;
  /** Unique id of this instance (prefix of the event ids it stamps). */
  readonly instanceId: string;
  /** @internal used by the WebSocket server and the router. */
  readonly internals: PubSubInternals;

  readonly #options: PubSubOptions<TTopics, TContext>;
  readonly #index: ChannelIndex;
  readonly #logger: Logger;
  readonly #now: () => number;
  #seq = 0;
  /** Broker subscriptions in flight, by scope name (resolve when effective, never reject). */
  readonly #listening = new Map<string, Promise<void>>();
  #closed = false;
  #started: Promise<void> | undefined;

  constructor(options: PubSubOptions<TTopics, TContext>) {
    this.#options = options;
    this.topics = options.topics;
    this.engine = options.engine ?? memoryEngine();
    this.#logger = options.logger ?? createConsoleLogger();
    this.#now = options.now ?? Date.now;
    this.history = new MemoryHistory(this.#now);
    this.instanceId = randomBytes(6).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x');
    this.#index = new ChannelIndex({
      onActive: (scope) => this.#listen(scope),
      onIdle: (scope) => void this.#engineCall(() => this.engine.unlisten(scope), 'unlisten', scope),
    });
    const deliver = (event: PubSubEvent) => this.#index.dispatch(new EncodedEvent(event));
    const started = this.engine.start({
      deliver,
      log: (level, message, fields) => this.#logger[level](message, fields),
      instanceId: this.instanceId,
      topics: Object.keys(options.topics),
    });
    if (started instanceof Promise) {
      this.#started = started.catch((error: unknown) => {
        this.#logger.error('engine failed to start', { engine: this.engine.name, error: String(error) });
      });
    }
    this.internals = {
      logger: this.#logger,
      attach: (scope, sink, info) => this.#attach(scope, sink, info),
      detach: (scope, sink, info) => this.#detach(scope, sink, info),
      iterate: (scope, signal, info, toItem, allowed) => this.#iterate(scope, signal, info, toItem, allowed),
      authorize: (request) => this.#authorize(request),
      allowedTopics: (ctx) => this.#allowedTopics(ctx),
      whenListening: (scope) => this.#listening.get(scopeName(scope)),
      publishValidated: (topic, payload, key) => this.#publishValidated(topic, payload, key),
    };
  }

  /** Resolves once the engine has started (immediately for the memory engine). */
  ready(): Promise<void> {
    return this.#started ?? Promise.resolve();
  }

  /**
   * Publishes an event from server code: validates the payload (and key)
   * against the topic's schemas, stamps id and time, keeps it in the
   * history, and hands it to the engine.
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
    const valid = this.#validate(topic, payload, options?.key);
    return this.#publishValidated(topic, valid.payload, valid.key) as Promise<TopicEventOf<TTopics, N>>;
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
    return this.#subscribeCallback(this.#scopeOf(topic, options.key), callback);
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
    return this.#iterate(this.#scopeOf(topic, opts.key), opts.signal, SERVER, eventOf) as AsyncIterableIterator<TopicEventOf<TTopics, N>> &
      AsyncDisposable;
  }

  /** Every topic's events as an async iterator (see {@link events}). */
  allEvents(options?: { signal?: AbortSignal }): AsyncIterableIterator<AnyTopicEventOf<TTopics>> & AsyncDisposable {
    return this.#iterate({ kind: 'all' }, options?.signal, SERVER, eventOf) as AsyncIterableIterator<AnyTopicEventOf<TTopics>> & AsyncDisposable;
  }

  /** Engine health plus local counts. */
  health(): EngineHealth & { engine: string; subscriptions: number; channels: number } {
    return {
      ...this.engine.health(),
      engine: this.engine.name,
      subscriptions: this.#index.size,
      channels: this.#index.scopeCount,
    };
  }

  /** Stops the engine. Local subscribers get nothing more. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.engine.close();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #iterate<T>(
    scope: SubscriptionScope,
    signal: AbortSignal | undefined,
    info: Omit<SubscriptionInfo, 'scope'>,
    toItem: (encoded: EncodedEvent) => T,
    allowed?: AllowedTopics,
  ): EventQueue<T> {
    let remove: (() => void) | undefined;
    const queue = new EventQueue<T>({
      maxQueued: this.#options.maxQueuedPerIterator ?? DEFAULT_MAX_QUEUED,
      signal,
      onEnd: () => remove?.(),
    });
    if (!queue.ended) {
      const sink: Sink = {
        deliver: (encoded) => {
          if (allowsEvent(allowed, encoded)) queue.push(toItem(encoded));
        },
      };
      this.#attach(scope, sink, info);
      remove = () => this.#detach(scope, sink, info);
    }
    return queue;
  }

  #subscribeCallback(scope: SubscriptionScope, callback: (event: PubSubEvent) => void): Unsubscribe {
    const logger = this.#logger;
    const sink: Sink = {
      deliver(encoded) {
        try {
          callback(encoded.event);
        } catch (error) {
          logger.error('server subscriber threw', { topic: encoded.event.topic, error: String(error) });
        }
      },
    };
    this.#attach(scope, sink, SERVER);
    const remove = () => this.#detach(scope, sink, SERVER);
    const unsubscribe = (() => remove()) as Unsubscribe;
    unsubscribe.unsubscribe = remove;
    unsubscribe[Symbol.dispose] = remove;
    return unsubscribe;
  }

  #attach(scope: SubscriptionScope, sink: Sink, info: Omit<SubscriptionInfo, 'scope'>): void {
    if (this.#closed) throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'PubSub is closed' });
    this.#index.insert(scope, sink);
    if (this.#options.onSubscribe !== undefined) this.#hook('onSubscribe', { scope, origin: info.origin, ctx: info.ctx });
  }

  #detach(scope: SubscriptionScope, sink: Sink, info: Omit<SubscriptionInfo, 'scope'>): void {
    if (this.#index.remove(scope, sink) && this.#options.onUnsubscribe !== undefined) {
      this.#hook('onUnsubscribe', { scope, origin: info.origin, ctx: info.ctx });
    }
  }

  #hook(name: 'onSubscribe' | 'onUnsubscribe', info: SubscriptionInfo): void {
    const hook = this.#options[name];
    if (hook === undefined) return;
    try {
      hook(info);
    } catch (error) {
      this.#logger.error(`${name} hook threw`, { error: String(error) });
    }
  }

  async #authorize(request: AuthorizeRequest<unknown>): Promise<void> {
    const authorize = this.#options.authorize as ((r: AuthorizeRequest<unknown>) => boolean | Promise<boolean>) | undefined;
    if (authorize === undefined) return;
    let allowed: boolean;
    try {
      allowed = await authorize(request);
    } catch (error) {
      if (error instanceof TRPCError) throw error;
      this.#logger.error('authorize hook threw', { topic: request.topic, action: request.action, error: String(error) });
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Authorization failed', cause: error });
    }
    if (allowed !== true) {
      const what = request.key === undefined ? request.topic : `${request.topic} key ${JSON.stringify(request.key)}`;
      throw new TRPCError({ code: 'FORBIDDEN', message: `Not allowed to ${request.action} on ${what}` });
    }
  }

  async #allowedTopics(ctx: unknown): Promise<ReadonlySet<string> | undefined> {
    if (this.#options.authorize === undefined) return undefined;
    const allowed = new Set<string>();
    for (const topic of Object.keys(this.topics)) {
      try {
        await this.#authorize({ ctx, topic, key: undefined, action: 'subscribe' });
        allowed.add(topic);
      } catch (error) {
        if (!(error instanceof TRPCError) || error.code !== 'FORBIDDEN') throw error;
      }
    }
    if (allowed.size === 0) throw new TRPCError({ code: 'FORBIDDEN', message: `Not allowed to subscribe to any topic` });
    return allowed;
  }

  #topic(name: string): AnyTopic {
    const definition = Object.hasOwn(this.topics, name) ? this.topics[name] : undefined;
    if (definition === undefined) throw new TRPCError({ code: 'NOT_FOUND', message: `Unknown topic ${JSON.stringify(name)}` });
    return definition;
  }

  #scopeOf(topic: string | undefined, key: unknown): SubscriptionScope {
    if (topic === undefined || topic === ALL_TOPICS) return { kind: 'all' };
    const definition = this.#topic(topic);
    if (definition.key === undefined && key !== undefined) throw badRequest(`Topic "${topic}" has no key`);
    const validKey = key === undefined ? undefined : parseKey(topic, definition, key);
    return topicScope(topic, definition.key !== undefined, validKey);
  }

  #validate(topic: string, payload: unknown, key: unknown): { payload: unknown; key: ChannelKey | undefined } {
    const definition = this.#topic(topic);
    let validKey: ChannelKey | undefined;
    if (definition.key === undefined) {
      if (key !== undefined) throw badRequest(`Topic "${topic}" has no key`);
    } else {
      if (key === undefined) throw badRequest(`Topic "${topic}" needs a key`);
      validKey = parseKey(topic, definition, key);
    }
    if (definition.payload === undefined) {
      if (payload !== undefined) throw badRequest(`Topic "${topic}" takes no payload`);
      return { payload: undefined, key: validKey };
    }
    const parsed = definition.payload.safeParse(payload);
    if (!parsed.success) throw badRequest(`Invalid payload for topic "${topic}": ${z.prettifyError(parsed.error)}`, parsed.error);
    return { payload: parsed.data, key: validKey };
  }

  async #publishValidated(topic: string, payload: unknown, key: ChannelKey | undefined): Promise<PubSubEvent> {
    if (this.#closed) throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'PubSub is closed' });
    const event: PubSubEvent = {
      id: `${this.instanceId}-${sequenceId(++this.#seq)}`,
      kind: 'event',
      topic,
      payload,
      ts: this.#now(),
    };
    if (key !== undefined) event.key = key;
    const policy = this.#topic(topic).history;
    try {
      await this.engine.publish(event);
    } catch (error) {
      if (error instanceof TRPCError) throw error;
      throw new TRPCError({
        code: 'SERVICE_UNAVAILABLE',
        message: `Could not publish on "${channelName(topic, key)}": ${this.engine.name} engine unavailable`,
        cause: error,
      });
    }
    // Kept only once the engine took it: a refused publish is not history.
    if (policy !== undefined) this.history.append(channelName(topic, key), event, policy);
    return event;
  }

  /** Starts the broker subscription of `scope`, remembering it while it is in flight (for `whenListening`). */
  #listen(scope: SubscriptionScope): void {
    const pending = this.#engineCall(() => this.engine.listen(scope), 'listen', scope);
    if (pending === undefined) return;
    const name = scopeName(scope);
    this.#listening.set(name, pending);
    void pending.finally(() => {
      if (this.#listening.get(name) === pending) this.#listening.delete(name);
    });
  }

  /**
   * Runs an engine call, logging (never throwing) its failure. Returns a
   * promise that settles (never rejects) when the call was asynchronous.
   */
  #engineCall(call: () => void | Promise<void>, what: string, scope: SubscriptionScope): Promise<void> | undefined {
    const fail = (error: unknown) => this.#logger.error(`engine ${what} failed`, { scope: scopeName(scope), error: String(error) });
    try {
      const result = call();
      return result instanceof Promise ? result.then(() => undefined, fail) : undefined;
    } catch (error) {
      fail(error);
      return undefined;
    }
  }
}

/**
 * A sequence number as a string that sorts like the number: base 36,
 * prefixed with its length in one base-36 digit (`1` → `11`, `36` → `210`),
 * so an instance's event ids increase in publish order as plain strings.
 */
function sequenceId(seq: number): string {
  const digits = seq.toString(36);
  return digits.length.toString(36) + digits;
}

/** Subscription info of server code's own subscriptions. */
const SERVER: Omit<SubscriptionInfo, 'scope'> = { origin: 'server' };
const eventOf = (encoded: EncodedEvent): PubSubEvent => encoded.event;

function badRequest(message: string, cause?: unknown): TRPCError {
  return new TRPCError({ code: 'BAD_REQUEST', message, cause });
}

function parseKey(topic: string, definition: AnyTopic, key: unknown): ChannelKey {
  const parsed = definition.key!.safeParse(key);
  if (!parsed.success) throw badRequest(`Invalid key for topic "${topic}": ${z.prettifyError(parsed.error)}`, parsed.error);
  return parsed.data;
}

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
