/**
 * What a topic's subscription procedure returns: the validated, authorized
 * request for a subscription. Stock tRPC adapters and callers iterate it (a
 * bounded iterator of tracked items); a transport that knows the core opens
 * it on its own fast path instead ({@link SubscriptionRequest.open}), one
 * serialization per event rather than per subscriber.
 * @module
 */
import { tracked, type TrackedEnvelope } from '@trpc/server';
import type { GapSignal, WireEvent } from '../../client/protocol.js';
import type { PubSubCore } from './core.js';
import { openQueue, QueueSubscription, type QueueItems } from './local-subscriptions.js';
import type { AllowedTopics, SubscriptionScope } from './scope.js';

/** What a tracked topic subscription yields: events, and the gap signal of a resume that could not replay. */
export type TrackedItem = TrackedEnvelope<WireEvent | GapSignal>;

/** A topic subscription asked for through tRPC (see the module comment). */
export class SubscriptionRequest implements AsyncIterable<TrackedItem> {
  constructor(
    /** The core that serves it. */
    readonly core: PubSubCore,
    /** What it listens to. */
    readonly scope: SubscriptionScope,
    /** The caller's context. */
    readonly ctx: unknown,
    /** Aborts when the caller stops (stock adapters). */
    readonly signal: AbortSignal | undefined,
    /** For an all-topics subscription under `authorize`: the topics it may receive. */
    readonly allowed: AllowedTopics,
    /** Where to resume after (what `wsLink` resends on reconnect). */
    readonly lastEventId: string | undefined,
    /** Without `lastEventId`: how many of the newest kept events to start with. */
    readonly last?: number,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<TrackedItem> {
    const subscription = new QueueSubscription<TrackedItem>(this.core, this.scope, 'trpc', this.ctx, this.allowed, this.signal, TRACKED_ITEMS);
    return openQueue(subscription, this.lastEventId, this.last);
  }
}

/** The procedures whose every result is a {@link SubscriptionRequest} (the topics' `events`, `allTopics.events`). */
const TOPIC_SUBSCRIPTIONS = new WeakSet<object>();

/** Marks `procedure` as one that always resolves to a {@link SubscriptionRequest} (or throws); returns it. */
export function markTopicSubscription<T extends object>(procedure: T): T {
  TOPIC_SUBSCRIPTIONS.add(procedure);
  return procedure;
}

/**
 * Whether `procedure` (from `router._def.procedures`) is a topic
 * subscription: a transport may then serve it on its own fast path
 * before calling it (an HTTP transport picks its stream format first).
 */
export function isTopicSubscription(procedure: unknown): boolean {
  return TOPIC_SUBSCRIPTIONS.has(procedure as object);
}

/** Whether a procedure's result is a topic subscription a transport can serve on its fast path. */
export function isSubscriptionRequest(value: unknown): value is SubscriptionRequest {
  return value instanceof SubscriptionRequest;
}

const TRACKED_ITEMS: QueueItems<TrackedItem> = {
  // Under an all-topics cursor the event's own id travels in its data (PROTOCOL.md §4).
  event: (encoded, id) => tracked(id, id === encoded.event.id ? encoded.wire : { ...encoded.wire, id: encoded.event.id }),
  gap: (gap, cursor) => tracked(cursor, gap),
};
