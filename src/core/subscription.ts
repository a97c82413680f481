/**
 * The life of one subscription, whatever carries it: it enters the channel
 * index at once (events that arrive are held), counts as started only once
 * the engine listens to its scope, replays what it missed after
 * `lastEventId` (or is told of the gap), then delivers live events, without
 * a gap or a duplicate between the replay and the live ones.
 *
 * Transports (and the core's own iterator and callback subscribers) extend
 * {@link Subscription}: one object per subscription, which matters for
 * memory with hundreds of thousands of idle subscriptions.
 * @module
 */
import { getTRPCErrorFromUnknown, type TRPCError } from '@trpc/server';
import type { GapSignal, PubSubEvent } from '../../client/protocol.js';
import type { Sink } from './channel-index.js';
import type { Logger } from './logger.js';
import { EncodedEvent } from './encoded-event.js';
import { allowsEvent, type AllowedTopics, type SubscriptionScope } from './scope.js';
import { formatTopicCursor } from './topic-cursor.js';
import { compareEventIds } from '../engine/engine.js';

/**
 * Where a subscription stands, as `ws` numbers its `readyState`:
 * `STARTING` (in the index, holding events, waiting for the engine or the
 * history), `LIVE` (events flow), `CLOSED` (out of the index for good).
 */
export const SubscriptionState = { STARTING: 0, LIVE: 1, CLOSED: 2 } as const;
/** One of {@link SubscriptionState}'s values. */
export type SubscriptionState = (typeof SubscriptionState)[keyof typeof SubscriptionState];

/** Where a subscription comes from: a WebSocket client, an SSE stream of the server's HTTP transport, a tRPC caller or other adapter, or server code. */
export type SubscriptionOrigin = 'websocket' | 'sse' | 'trpc' | 'server';

/** A subscription that began or ended, as the `onSubscribe`/`onUnsubscribe` hooks see it. */
export interface SubscriptionInfo {
  /** What it listens to. */
  scope: SubscriptionScope;
  /** Where it comes from. */
  origin: SubscriptionOrigin;
  /** The caller's tRPC context, when it came through tRPC. */
  ctx?: unknown;
}

/**
 * What a resume found: the events to replay, or the gap to signal (with the
 * id to resume from next time). An all-topics read also carries the gaps of
 * the topics that could not replay and where it stands in every topic that
 * keeps history (its cursor, PROTOCOL.md §4).
 */
export type ResumeRead =
  | {
      readonly ok: true;
      readonly events: readonly PubSubEvent[];
      /** All-topics reads: one gap per topic that could not replay, told before the events. */
      readonly gaps?: readonly GapSignal[];
      /** All-topics reads: topic → the id it stands at, for every topic that keeps history. */
      readonly positions?: ReadonlyMap<string, string>;
      /** Resumes: per topic, the id the read started after; live copies of events up to it are not delivered (the consumer had them). */
      readonly after?: ReadonlyMap<string, string>;
    }
  | { readonly ok: false; readonly gap: GapSignal; readonly cursor: string };

/** What a subscription needs from the core that serves it (the core implements it). */
export interface SubscriptionHost {
  readonly logger: Logger;
  /** Most undelivered events a server-side iterator holds. */
  readonly maxQueuedPerIterator: number;
  /** Puts the subscription in the index and runs `onSubscribe`; throws `SERVICE_UNAVAILABLE` when closed. */
  attach(subscription: Subscription): void;
  /** Takes it out of the index and runs `onUnsubscribe`; nothing the second time. */
  detach(subscription: Subscription): void;
  /** The engine's broker subscription for `scope` while it is in flight, else `undefined`. */
  whenListening(scope: SubscriptionScope): Promise<void> | undefined;
  /** The events of `scope` after `lastEventId`, or the gap. */
  resume(scope: SubscriptionScope, lastEventId: string, allowed: AllowedTopics): Promise<ResumeRead>;
  /** The newest `n` events of `scope` the history holds (none when it keeps no history). */
  recent(scope: SubscriptionScope, n: number, allowed: AllowedTopics): Promise<ResumeRead>;
  /** Whether an all-topics subscription under `allowed` tracks a cursor (some topic it may receive keeps history). */
  tracksAllTopics(allowed: AllowedTopics): boolean;
  /** Where a new all-topics subscription starts (the head of each topic keeping history); `undefined` when it tracks no cursor. */
  allTopicsStart(allowed: AllowedTopics): Promise<ResumeRead | undefined>;
  /** Whether `topic` keeps history. */
  keepsHistory(topic: string): boolean;
}

/**
 * One subscription's lifecycle. Subclasses say what starting, an event, a
 * gap and a failure mean for their consumer (a frame, a queued item, a
 * callback); the base class decides when each happens.
 */
export abstract class Subscription implements Sink {
  /** Where it stands (see {@link SubscriptionState}). */
  state: SubscriptionState = SubscriptionState.STARTING;
  /** Events that arrived while starting, delivered after the replay. */
  #held: EncodedEvent[] | undefined;
  /** All-topics subscriptions that track a cursor: topic → the id of the last event delivered (or the head it started at). */
  #positions: Map<string, string> | undefined;
  /** {@link #positions} formatted, until it changes. */
  #cursor: string | undefined;
  /** After a history read: per topic, what it covered (see {@link #fresh}). */
  #covered: Map<string, Covered> | undefined;

  constructor(
    /** The core it belongs to. */
    readonly core: SubscriptionHost,
    /** What it listens to. */
    readonly scope: SubscriptionScope,
    /** For an all-topics subscription under `authorize`: the topics it may receive. */
    readonly allowed: AllowedTopics,
  ) {}

  /**
   * Where it comes from (for the hooks). A getter, not a field: with
   * {@link ctx}, kept by the subclass where it costs nothing per
   * subscription (a WebSocket subscription reads its connection's context).
   */
  abstract get origin(): SubscriptionOrigin;
  /** The caller's context (for the hooks). */
  abstract get ctx(): unknown;

  /** The consumer's "it started" (e.g. tRPC's `started` message); events follow. */
  protected abstract onLive(): void;
  /** One event for the consumer (replayed or live, in order). */
  protected abstract onEvent(encoded: EncodedEvent): void;
  /** What was missed cannot be replayed; `cursor` is the id to resume from next time. */
  protected abstract onGap(gap: GapSignal, cursor: string): void;
  /** Starting failed (the history could not be read); the subscription is already closed. */
  protected abstract onFail(error: TRPCError): void;

  /**
   * Enters the index and starts: synchronously when the engine already
   * listens and there is nothing to replay, else once it does (the promise,
   * which never rejects, settles then). Throws `SERVICE_UNAVAILABLE` when
   * the pubsub is closed.
   * @param lastEventId the last event the consumer has; what came after it is replayed first
   * @param last without `lastEventId`: start with the newest `last` events the history holds
   */
  open(lastEventId?: string, last?: number): Promise<void> | undefined {
    this.core.attach(this);
    const listening = this.core.whenListening(this.scope);
    if (listening === undefined && lastEventId === undefined && last === undefined && !this.#needsStartingPositions()) {
      this.#goLive(undefined);
      return undefined;
    }
    return this.#start(listening, lastEventId, last);
  }

  /** Takes it out of the index for good; safe to call twice. */
  close(): void {
    if (this.state === SubscriptionState.CLOSED) return;
    this.state = SubscriptionState.CLOSED;
    this.#held = undefined;
    this.#positions = undefined;
    this.#covered = undefined;
    this.core.detach(this);
  }

  /** {@link Sink.lost}: a gap while live (its scope's key added); ignored while starting, whose replay comes after. */
  lost(gap: GapSignal, cursor: string): void {
    if (this.state !== SubscriptionState.LIVE) return;
    if (this.allowed !== undefined && gap.topic !== undefined && !this.allowed.has(gap.topic)) return;
    this.onGap(this.scope.kind === 'channel' && this.scope.key !== undefined ? { ...gap, key: this.scope.key } : gap, this.#positions === undefined ? cursor : this.#formatted());
  }

  /** {@link Sink.deliver}: from the index, in channel order. */
  deliver(encoded: EncodedEvent): void {
    if (this.state === SubscriptionState.LIVE) {
      if (this.#covered === undefined || this.#fresh(encoded)) this.#emit(encoded);
    } else if (this.state === SubscriptionState.STARTING) {
      (this.#held ??= []).push(encoded);
    }
  }

  /** One event to the consumer (replayed or live), moving an all-topics cursor. */
  #emit(encoded: EncodedEvent): void {
    if (!allowsEvent(this.allowed, encoded)) return;
    if (this.#positions !== undefined && this.core.keepsHistory(encoded.event.topic)) {
      this.#positions.set(encoded.event.topic, encoded.event.id);
      this.#cursor = undefined;
    }
    this.onEvent(encoded);
  }

  /**
   * Whether a live event is not one the consumer already has. A broker may
   * hand over an event's live copy after the history read returned it
   * (reads and live messages travel on different connections; an instance
   * catching up delivers late), so a topic's live events that were replayed,
   * or are not after the id the resume started from, are dropped, until the
   * topic's first live event past the newest replayed one: live events of a
   * topic come in its order, so no older copy can follow.
   */
  #fresh(encoded: EncodedEvent): boolean {
    const covered = this.#covered!;
    const { topic, id } = encoded.event;
    const read = covered.get(topic);
    if (read === undefined) return true;
    if (read.ids.has(id)) return false;
    if (read.after !== undefined && (compareEventIds(id, read.after) ?? 1) <= 0) return false;
    if (read.newest === undefined || (compareEventIds(id, read.newest) ?? 1) > 0) {
      covered.delete(topic);
      if (covered.size === 0) this.#covered = undefined;
    }
    return true;
  }

  /**
   * The tracked id of `encoded` for this subscription's consumer: the event
   * id, or (an all-topics subscription tracking a cursor) the cursor after it.
   */
  protected trackedId(encoded: EncodedEvent): string {
    return this.#positions === undefined ? encoded.event.id : this.#formatted();
  }

  /** Whether this is an all-topics subscription tracking a cursor (its tracked ids are its own, not the event's). */
  protected get tracksCursor(): boolean {
    return this.#positions !== undefined;
  }

  /** An all-topics subscription that should track a cursor starts from every topic's head, read first. */
  #needsStartingPositions(): boolean {
    return this.scope.kind === 'all' && this.core.tracksAllTopics(this.allowed);
  }

  #formatted(): string {
    return (this.#cursor ??= formatTopicCursor(this.#positions ?? new Map()));
  }

  async #start(listening: Promise<void> | undefined, lastEventId: string | undefined, last: number | undefined): Promise<void> {
    if (listening !== undefined) await listening;
    if (this.state !== SubscriptionState.STARTING) return;
    let read: ResumeRead | undefined;
    if (lastEventId !== undefined || last !== undefined || this.#needsStartingPositions()) {
      try {
        read =
          lastEventId !== undefined
            ? await this.core.resume(this.scope, lastEventId, this.allowed)
            : last !== undefined
              ? await this.core.recent(this.scope, last, this.allowed)
              : await this.core.allTopicsStart(this.allowed);
      } catch (error) {
        if (this.state !== SubscriptionState.STARTING) return;
        this.close();
        this.onFail(getTRPCErrorFromUnknown(error));
        return;
      }
      if (this.state !== SubscriptionState.STARTING) return;
    }
    this.#goLive(read);
  }

  /** Live: `started`, then the replay (or the gap), then what was held, skipping what the replay had. */
  #goLive(read: ResumeRead | undefined): void {
    const held = this.#held;
    this.#held = undefined;
    this.state = SubscriptionState.LIVE;
    this.onLive();
    if (read !== undefined) {
      if (read.ok) {
        if (read.positions !== undefined && this.scope.kind === 'all') this.#positions = new Map(read.positions);
        for (const gap of read.gaps ?? []) {
          if (this.state !== SubscriptionState.LIVE) return;
          this.onGap(gap, this.#formatted());
        }
        this.#covered = coveredBy(read.events, read.after);
        for (const event of read.events) {
          if (this.state !== SubscriptionState.LIVE) return;
          this.#emit(new EncodedEvent(event));
        }
      } else if (this.state === SubscriptionState.LIVE) {
        this.onGap(read.gap, read.cursor);
      }
    }
    if (held === undefined) return;
    for (const encoded of held) {
      if (this.state !== SubscriptionState.LIVE) return;
      this.deliver(encoded);
    }
  }
}

/** What a history read covered of one topic. */
interface Covered {
  /** The id the resume started after (the consumer has everything up to it). */
  readonly after: string | undefined;
  /** The ids replayed. */
  readonly ids: Set<string>;
  /** The newest one. */
  newest: string | undefined;
}

/** Per topic, what a read of `events` after `after` covered; `undefined` when nothing. */
function coveredBy(events: readonly PubSubEvent[], after: ReadonlyMap<string, string> | undefined): Map<string, Covered> | undefined {
  const covered = new Map<string, Covered>();
  for (const [topic, id] of after ?? []) covered.set(topic, { after: id, ids: new Set(), newest: undefined });
  for (const event of events) {
    let read = covered.get(event.topic);
    if (read === undefined) covered.set(event.topic, (read = { after: undefined, ids: new Set(), newest: undefined }));
    read.ids.add(event.id);
    read.newest = event.id;
  }
  return covered.size === 0 ? undefined : covered;
}
