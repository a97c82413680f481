/**
 * The transport-free core of one instance: the declared topics and their
 * validation, authorization, the channel index of local subscribers, the
 * engine (ids, order, history), resume, hooks, health and counters. It
 * knows nothing of sockets or frames: the router, the WebSocket transport
 * and the server-side API all go through it.
 * @module
 */
import { TRPCError } from '@trpc/server';
import type { ChannelKey, GapReason, GapSignal, PubSubEvent } from '../../client/protocol.js';
import type { Engine, EngineHealth } from '../engine/engine.js';
import { randomEpoch } from '../engine/engine.js';
import { memoryEngine } from '../engine/memory.js';
import { Authorizer, type AuthorizeHook } from './authorize.js';
import { ChannelIndex } from './channel-index.js';
import { EncodedEvent } from './encoded-event.js';
import { EngineLink } from './engine-link.js';
import { DEFAULT_MAX_QUEUED } from './event-queue.js';
import { createLogger, type Logger } from './logger.js';
import { DeliveryLatency, type CoreCounters } from './metrics.js';
import { topicScope, type AllowedTopics, type SubscriptionScope } from './scope.js';
import { parseTopicCursor } from './topic-cursor.js';
import { Presence, type PresenceOptions } from './presence.js';
import type { ResumeRead, Subscription, SubscriptionHost, SubscriptionInfo } from './subscription.js';

export type { ResumeRead } from './subscription.js';
import type { TopicRecord } from './topics.js';
import { TopicValidator, type ValidPublish } from './validate.js';

/** What the core is made from (the untyped part of `PubSubOptions`). */
export interface PubSubCoreOptions {
  topics: TopicRecord;
  engine?: Engine | undefined;
  authorize?: AuthorizeHook<never> | undefined;
  onSubscribe?: ((info: SubscriptionInfo) => void) | undefined;
  onUnsubscribe?: ((info: SubscriptionInfo) => void) | undefined;
  maxQueuedPerIterator?: number | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
  presence?: PresenceOptions<never> | undefined;
}

/** Health of the core: the engine's, plus local counts. */
export interface CoreHealth extends EngineHealth {
  engine: string;
  subscriptions: number;
  channels: number;
}

/** Where the core stands: `open`, or `closed` after `close()`. */
export type CoreState = 'open' | 'closed';

/** The core of one instance (see the module comment). */
export class PubSubCore implements SubscriptionHost {
  /** The declared topics and their validation. */
  readonly topics: TopicValidator;
  /** The `authorize` hook, asked for tRPC callers. */
  readonly authorizer: Authorizer;
  /** Where logs go. */
  readonly logger: Logger;
  /** Unique id of this instance. */
  readonly instanceId = randomEpoch();
  /** Counters since start. */
  readonly counters: CoreCounters = { published: 0, publishFailures: 0, subscriptionsOpened: 0, delivered: 0, replayed: 0, gaps: 0 };
  /** Publish-to-delivery latency of the events this instance delivers (for `/metrics`). */
  readonly latency = new DeliveryLatency();
  /** Most undelivered events a server-side iterator holds. */
  readonly maxQueuedPerIterator: number;
  /** Who is in each channel of the topics with presence. */
  readonly presence: Presence;
  /** Whether some topic has presence (subscriptions of the others skip it). */
  readonly #hasPresence: boolean;
  readonly #options: PubSubCoreOptions;
  readonly #engine: EngineLink;
  readonly #index: ChannelIndex;
  readonly #now: () => number;
  #closing: Promise<void> | undefined;

  constructor(options: PubSubCoreOptions) {
    this.#options = options;
    this.logger = options.logger ?? createLogger();
    this.#now = options.now ?? Date.now;
    this.maxQueuedPerIterator = options.maxQueuedPerIterator ?? DEFAULT_MAX_QUEUED;
    this.topics = new TopicValidator(options.topics);
    this.authorizer = new Authorizer(options.authorize as AuthorizeHook<unknown> | undefined, this.topics.names, this.logger);
    this.#index = new ChannelIndex({
      onActive: (scope) => this.#engine.listen(scope),
      onIdle: (scope) => this.#engine.unlisten(scope),
    });
    const engine = options.engine ?? memoryEngine();
    this.presence = new Presence({
      engine,
      topics: this.topics,
      logger: this.logger,
      instanceId: this.instanceId,
      options: options.presence,
      maxQueued: this.maxQueuedPerIterator,
      now: this.#now,
    });
    this.#hasPresence = this.topics.names.some((name) => this.topics.find(name)?.definition.presence !== undefined);
    if (this.#hasPresence && !this.presence.shared && engine.name !== 'memory') {
      this.logger.warn(`the ${engine.name} engine keeps no presence: each instance lists only its own members`, { engine: engine.name });
    }
    this.#engine = new EngineLink({
      engine,
      logger: this.logger,
      instanceId: this.instanceId,
      topics: this.topics.names,
      history: (topic) => this.topics.find(topic)?.history,
      deliver: (event) => {
        this.latency.observe(event.ts);
        this.counters.delivered += this.#index.dispatch(new EncodedEvent(event));
      },
      gap: (topic, reason, after) => this.#lost(topic, reason, after),
      presence: (change) => this.presence.changed(change),
    });
  }

  /** The engine carrying events between instances. */
  get engine(): Engine {
    return this.#engine.engine;
  }

  /** `open`, or `closed` once {@link close} was called. */
  get state(): CoreState {
    return this.#closing === undefined ? 'open' : 'closed';
  }

  /** Resolves once the engine has started; never rejects (a failed start is logged, health tells). */
  ready(): Promise<void> {
    return this.#engine.ready();
  }

  /** Puts `subscription` in the index and runs `onSubscribe`; throws `SERVICE_UNAVAILABLE` when closed. */
  attach(subscription: Subscription): void {
    if (this.#closing !== undefined) throw closedError();
    this.#index.insert(subscription.scope, subscription);
    this.counters.subscriptionsOpened++;
    if (this.#hasPresence) this.presence.join(subscription);
    if (this.#options.onSubscribe !== undefined) this.#hook('onSubscribe', subscription);
  }

  /** Takes `subscription` out of the index and runs `onUnsubscribe`; nothing the second time. */
  detach(subscription: Subscription): void {
    if (!this.#index.remove(subscription.scope, subscription)) return;
    if (this.#hasPresence) this.presence.leave(subscription);
    if (this.#options.onUnsubscribe !== undefined) this.#hook('onUnsubscribe', subscription);
  }

  /** The engine's broker subscription for `scope` while it is in flight, else `undefined`. */
  whenListening(scope: SubscriptionScope): Promise<void> | undefined {
    return this.#engine.whenListening(scope);
  }

  /**
   * Publishes an already validated payload: the engine gives it its id and
   * position and delivers it to every instance.
   * @throws TRPCError `SERVICE_UNAVAILABLE` when closed or when the engine cannot take it.
   */
  async publish(topic: string, valid: ValidPublish): Promise<PubSubEvent> {
    if (this.#closing !== undefined) throw closedError();
    const draft: PubSubEvent = { id: '', kind: 'event', topic, payload: valid.payload, ts: this.#now() };
    if (valid.key !== undefined) draft.key = valid.key;
    try {
      const event = await this.#engine.publish(draft, valid.key);
      this.counters.published++;
      return event;
    } catch (error) {
      this.counters.publishFailures++;
      throw error;
    }
  }

  /**
   * What a subscription resuming after `lastEventId` gets: the events of
   * `scope` it missed, or a gap when they are not all kept (or the topic
   * keeps no history). An all-topics scope reads each topic it may receive
   * on its own from the all-topics cursor (PROTOCOL.md §4): what each one
   * kept, and a gap for each that cannot replay.
   * @throws TRPCError `SERVICE_UNAVAILABLE` when the history cannot be read.
   */
  async resume(scope: SubscriptionScope, lastEventId: string, allowed: AllowedTopics): Promise<ResumeRead> {
    if (scope.kind === 'all') return this.#readAllTopics(allowed, { after: parseTopicCursor(lastEventId) ?? lastEventId, lastEventId });
    const read = this.keepsHistory(scope.topic)
      ? await this.#engine.since(scope, lastEventId)
      : ({ ok: false, reason: 'unsupported', cursor: undefined } as const);
    if (read.ok) {
      this.counters.replayed += read.events.length;
      return { ok: true, events: read.events, after: new Map([[scope.topic, lastEventId]]) };
    }
    this.counters.gaps++;
    return { ok: false, gap: this.#gap(scope, read.reason, lastEventId), cursor: read.cursor ?? lastEventId };
  }

  /**
   * The newest `n` events of `scope` (a late joiner's recent messages), of
   * the topics it may receive that keep history; none when there are none
   * or the engine keeps no history yet.
   * @throws TRPCError `SERVICE_UNAVAILABLE` when the history cannot be read.
   */
  async recent(scope: SubscriptionScope, n: number, allowed: AllowedTopics): Promise<ResumeRead> {
    if (scope.kind === 'all') return this.#readAllTopics(allowed, { last: n });
    if (!this.keepsHistory(scope.topic)) return { ok: true, events: [] };
    const { events } = await this.#engine.latest(scope, n);
    this.counters.replayed += events.length;
    return { ok: true, events };
  }

  /**
   * Where a new all-topics subscription (under `allowed`) starts: the head
   * of every topic it may receive that keeps history, so that its tracked
   * id is a cursor from its first event on; `undefined` when none keeps
   * history (its tracked ids are then plain event ids).
   * @throws TRPCError `SERVICE_UNAVAILABLE` when the history cannot be read.
   */
  async allTopicsStart(allowed: AllowedTopics): Promise<ResumeRead | undefined> {
    if (!this.tracksAllTopics(allowed)) return undefined;
    return this.#readAllTopics(allowed, { heads: true });
  }

  /** Whether an all-topics subscription under `allowed` tracks a cursor (some topic it may receive keeps history). */
  tracksAllTopics(allowed: AllowedTopics): boolean {
    return this.#receivable(allowed).some((topic) => this.keepsHistory(topic));
  }

  /** Whether `topic` keeps history (a position in all-topics cursors). */
  keepsHistory(topic: string): boolean {
    return this.topics.find(topic)?.history !== undefined;
  }

  /** Engine health plus local counts. */
  health(): CoreHealth {
    return {
      ...this.#engine.health(),
      engine: this.engine.name,
      subscriptions: this.#index.size,
      channels: this.#index.scopeCount,
    };
  }

  /**
   * Health as {@link health} gives it, but with the engine part from one
   * bounded round trip to the broker (the engine's `check()`, else its
   * `health()`): for readiness, which must see a broker that is connected
   * but stalled. Never rejects; settles within about the engine's command
   * timeout.
   */
  async checkHealth(): Promise<CoreHealth> {
    const engine = await this.#engine.check();
    return { ...engine, engine: this.engine.name, subscriptions: this.#index.size, channels: this.#index.scopeCount };
  }

  /** Stops the engine; local subscribers get nothing more. Safe to call twice. */
  close(): Promise<void> {
    // Members leave (and streams end) while the engine can still say so.
    this.#closing ??= this.presence.close().then(() => this.#engine.close());
    return this.#closing;
  }

  /** The topics an all-topics subscription under `allowed` may receive. */
  #receivable(allowed: AllowedTopics): readonly string[] {
    return allowed === undefined ? this.topics.names : [...allowed].filter((topic) => this.topics.find(topic) !== undefined);
  }

  /**
   * Reads every topic an all-topics subscription may receive, each on its
   * own (brokers order topics separately): after its position in the
   * cursor (a plain id stands for every topic), its newest `last` events,
   * or only its head. Topics without history, or missing from the cursor,
   * get a gap; the events are merged by time, each topic's in its order.
   */
  async #readAllTopics(
    allowed: AllowedTopics,
    start: { after: ReadonlyMap<string, string> | string; lastEventId: string } | { last: number } | { heads: true },
  ): Promise<ResumeRead> {
    const lists: (readonly PubSubEvent[])[] = [];
    const gaps: GapSignal[] = [];
    const positions = new Map<string, string>();
    const resumedAfter = new Map<string, string>();
    const resuming = 'after' in start;
    await Promise.all(
      this.#receivable(allowed).map(async (topic) => {
        const declared = this.topics.find(topic)!;
        const after = resuming ? (typeof start.after === 'string' ? start.after : start.after.get(topic)) : undefined;
        if (declared.history === undefined) {
          if (resuming) gaps.push(this.#topicGap(topic, 'unsupported', after ?? start.lastEventId));
          return;
        }
        const scope = topicScope(topic, declared.key !== undefined, undefined);
        if (after === undefined) {
          const read = await this.#engine.latest(scope, 'last' in start ? start.last : 1);
          if ('last' in start) lists.push(read.events);
          if (read.cursor !== undefined) positions.set(topic, read.cursor);
          if (resuming) gaps.push(this.#topicGap(topic, 'unknown', start.lastEventId));
          return;
        }
        const read = await this.#engine.since(scope, after);
        positions.set(topic, read.cursor ?? after);
        resumedAfter.set(topic, after);
        if (read.ok) lists.push(read.events);
        else gaps.push(this.#topicGap(topic, read.reason, after));
      }),
    );
    let events = mergeByTime(lists);
    if ('last' in start && events.length > start.last) events = events.slice(events.length - start.last);
    this.counters.replayed += events.length;
    this.counters.gaps += gaps.length;
    gaps.sort((a, b) => (a.topic! < b.topic! ? -1 : 1));
    return { ok: true, events, gaps, positions, after: resumedAfter };
  }

  /** The engine says events of `topic` were lost on the way here: every local subscriber of it gets a gap. */
  #lost(topic: string, reason: GapReason, after: string | undefined): void {
    const gap: GapSignal = { kind: 'gap', topic, reason, after: after ?? '', ts: this.#now() };
    const cursor = after ?? `${this.instanceId}:0`;
    let told = 0;
    this.#index.forEachOfTopic(topic, (sink) => {
      told++;
      sink.lost(gap, cursor);
    });
    this.counters.gaps += told;
    this.logger.warn('events may have been lost on the way from the broker; subscribers told with a gap', { topic, reason, subscribers: told });
  }

  #topicGap(topic: string, reason: GapReason, after: string): GapSignal {
    return { kind: 'gap', topic, reason, after, ts: this.#now() };
  }

  #gap(scope: SubscriptionScope, reason: GapReason, after: string): GapSignal {
    const gap: GapSignal = { kind: 'gap', reason, after, ts: this.#now() };
    if (scope.kind !== 'all') gap.topic = scope.topic;
    if (scope.kind === 'channel' && scope.key !== undefined) gap.key = scope.key as ChannelKey;
    return gap;
  }

  #hook(name: 'onSubscribe' | 'onUnsubscribe', subscription: Subscription): void {
    try {
      this.#options[name]?.({ scope: subscription.scope, origin: subscription.origin, ctx: subscription.ctx });
    } catch (error) {
      this.logger.error(`${name} hook threw`, { error: String(error) });
    }
  }
}

/** The refusal of a call on a closed pubsub. */
export function closedError(): TRPCError {
  return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'PubSub is closed' });
}

/** One list of events from several, by time, each list's own order kept (a k-way merge: lists are in their topic's order, not always in time order). */
function mergeByTime(lists: readonly (readonly PubSubEvent[])[]): PubSubEvent[] {
  const nonEmpty = lists.filter((list) => list.length > 0);
  if (nonEmpty.length <= 1) return [...(nonEmpty[0] ?? [])];
  const next = nonEmpty.map(() => 0);
  const merged: PubSubEvent[] = [];
  for (;;) {
    let pick = -1;
    for (let i = 0; i < nonEmpty.length; i++) {
      const candidate = nonEmpty[i]![next[i]!];
      if (candidate === undefined) continue;
      const best = pick < 0 ? undefined : nonEmpty[pick]![next[pick]!]!;
      if (best === undefined || candidate.ts < best.ts || (candidate.ts === best.ts && candidate.id < best.id)) pick = i;
    }
    if (pick < 0) return merged;
    merged.push(nonEmpty[pick]![next[pick]!++]!);
  }
}
