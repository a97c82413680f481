/**
 * The two consumers the core serves itself: a callback (server code's
 * `pubsub.subscribe`) and a bounded async iterator (server code's
 * `pubsub.events`, and topic subscriptions served by stock tRPC adapters
 * and callers).
 * @module
 */
import type { TRPCError } from '@trpc/server';
import type { GapSignal, PubSubEvent } from '../../client/protocol.js';
import type { EncodedEvent } from './encoded-event.js';
import { EventQueue } from './event-queue.js';
import type { AllowedTopics, SubscriptionScope } from './scope.js';
import { Subscription, type SubscriptionHost, type SubscriptionOrigin } from './subscription.js';

/** Server code's callback subscription: each event is handed to `callback` synchronously (a throw is logged). */
export class CallbackSubscription extends Subscription {
  constructor(
    core: SubscriptionHost,
    scope: SubscriptionScope,
    private readonly callback: (event: PubSubEvent) => void,
  ) {
    super(core, scope, undefined);
  }

  get origin(): SubscriptionOrigin {
    return 'server';
  }

  get ctx(): unknown {
    return undefined;
  }

  protected onLive(): void {}

  protected onEvent(encoded: EncodedEvent): void {
    try {
      this.callback(encoded.event);
    } catch (error) {
      this.core.logger.error('server subscriber threw', { topic: encoded.event.topic, error: String(error) });
    }
  }

  protected onGap(): void {}

  protected onFail(): void {}
}

/** How a {@link QueueSubscription} turns what it receives into iterator items. */
export interface QueueItems<T> {
  /** @param trackedId the event's id, or the all-topics cursor after it */
  event(encoded: EncodedEvent, trackedId: string): T;
  gap(gap: GapSignal, cursor: string): T;
}

/**
 * A subscription read as a bounded async iterator: ends when `signal`
 * aborts or the consumer stops, fails with `TOO_MANY_REQUESTS` past the
 * core's `maxQueuedPerIterator` (never drops silently) or with the start's
 * failure; leaves the index whichever way it ends.
 */
export class QueueSubscription<T> extends Subscription {
  /** The iterator the consumer reads. */
  readonly queue: EventQueue<T>;

  constructor(
    core: SubscriptionHost,
    scope: SubscriptionScope,
    /** Where it comes from (for the hooks). */
    readonly origin: SubscriptionOrigin,
    /** The caller's context (for the hooks). */
    readonly ctx: unknown,
    allowed: AllowedTopics,
    signal: AbortSignal | undefined,
    private readonly items: QueueItems<T>,
  ) {
    super(core, scope, allowed);
    this.queue = new EventQueue<T>({ maxQueued: core.maxQueuedPerIterator, signal, onEnd: () => this.close() });
  }

  protected onLive(): void {}

  protected onEvent(encoded: EncodedEvent): void {
    this.queue.push(this.items.event(encoded, this.trackedId(encoded)));
  }

  protected onGap(gap: GapSignal, cursor: string): void {
    this.queue.push(this.items.gap(gap, cursor));
  }

  protected onFail(error: TRPCError): void {
    this.queue.fail(error);
  }
}

/** Opens a {@link QueueSubscription} and returns its iterator (already ended if the signal was aborted). */
export function openQueue<T>(subscription: QueueSubscription<T>, lastEventId?: string, last?: number): EventQueue<T> {
  if (!subscription.queue.ended) void subscription.open(lastEventId, last);
  return subscription.queue;
}
