/**
 * The engine seam: everything an engine sees of the core, and everything the
 * core asks of an engine. Engines import this module (and their own
 * siblings), never the core, the router or a transport.
 * @module
 */
import type { ChannelKey, PresenceMember, PubSubEvent, WireEvent } from '../../client/protocol.js';

export type { ChannelKey, PresenceMember, PubSubEvent, WireEvent } from '../../client/protocol.js';

/**
 * What a subscription listens to: one channel (a topic, and its key if the
 * topic is keyed), every key of a topic, or every topic.
 */
export type SubscriptionScope =
  | { readonly kind: 'channel'; readonly topic: string; readonly key: ChannelKey | undefined }
  | { readonly kind: 'topic'; readonly topic: string }
  | { readonly kind: 'all' };

/**
 * The channel name of a topic and key, as used by indexes, histories and
 * brokers: `topic` or `topic:key`. Topic names never contain `:`, so the
 * split is unambiguous whatever the key holds.
 */
export function channelName(topic: string, key: ChannelKey | undefined): string {
  return key === undefined ? topic : `${topic}:${String(key)}`;
}

/** A stable string for a scope, for logs and maps. */
export function scopeName(scope: SubscriptionScope): string {
  switch (scope.kind) {
    case 'channel':
      return channelName(scope.topic, scope.key);
    case 'topic':
      return `${scope.topic}:*`;
    case 'all':
      return '*';
  }
}

/**
 * How many recent events a topic keeps per channel (per key), so that a
 * reconnecting client can be replayed what it missed.
 */
export interface HistoryPolicy {
  /** Most events kept per channel. Must be ≥ 1. */
  maxEvents: number;
  /**
   * Events older than this are dropped, in milliseconds.
   * @default Infinity (only `maxEvents` bounds the history)
   */
  maxAgeMs?: number;
}


/** What an engine reports about its broker connection. */
export interface EngineHealth {
  /** `ok`: events flow; `degraded`: local delivery works but the broker is unreachable. */
  status: 'ok' | 'degraded';
  /** Human-readable detail, such as the broker error. */
  detail?: string;
}

/** A member joined or left a channel, as an engine reports it to every instance watching the channel. */
export interface PresenceChange {
  readonly kind: 'join' | 'leave';
  /** The channel name (`topic` or `topic:key`). */
  readonly channel: string;
  readonly member: PresenceMember;
}

/**
 * Where an engine keeps who is in each channel, shared by every instance.
 * Members live `ttlMs` unless refreshed: the core refreshes its own members
 * every third of it, so that a killed instance's members expire. Joins and
 * leaves (including expiries) are announced to every instance that
 * {@link watch}es the channel, through {@link EngineContext.presence}.
 */
export interface EnginePresence {
  /** Adds `member` to `channel` for `ttlMs`, and announces the join. */
  join(channel: string, member: PresenceMember, ttlMs: number): Promise<void>;
  /** Removes the member, and announces the leave if it was there. */
  leave(channel: string, member: PresenceMember): Promise<void>;
  /** Keeps `members` (this instance's, all in `channel`) for another `ttlMs`, adding back any the store lost, without announcing. */
  refresh(channel: string, members: readonly PresenceMember[], ttlMs: number): Promise<void>;
  /** The channel's members now, oldest first; members past their time are removed (and their leave announced) first. */
  members(channel: string): Promise<PresenceMember[]>;
  /** Starts announcing `channel`'s joins and leaves to this instance. */
  watch(channel: string): Promise<void>;
  /** Stops announcing them. */
  unwatch(channel: string): Promise<void>;
}

/** What the core hands an engine when it starts. */
export interface EngineContext {
  /** Delivers an event that reached this instance to its local subscribers (in the channel's order). */
  deliver(event: PubSubEvent): void;
  /** Structured log sink. */
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Unique id of this instance (broker engines put it on every bridged message). */
  readonly instanceId: string;
  /** Names of the declared topics, so that a broker engine can listen to every topic for an all-topics scope. */
  readonly topics: readonly string[];
  /** The history policy of `topic`, `undefined` when it keeps none. */
  history(topic: string): HistoryPolicy | undefined;
  /**
   * Events of `topic` published elsewhere may not have reached this
   * instance (its broker connection dropped) and history cannot give them
   * back: the core tells every local subscriber of the topic with a gap.
   * @param after the id of the last event of `topic` this instance delivered, when known
   */
  gap(topic: string, reason: 'expired' | 'unknown' | 'unsupported', after: string | undefined): void;
  /** A member joined or left a channel this instance watches ({@link EnginePresence.watch}). */
  presence(change: PresenceChange): void;
}

/**
 * An event the core hands to {@link Engine.publish}: validated and timed,
 * without an id yet. The engine gives it its id, which is its position in
 * the channel's order.
 */
export type EventDraft = WireEvent;

/**
 * What a history read found. `cursor` is where a subscriber stands after it:
 * the id of the last event returned, or (when none) the newest position of
 * the scope, so that resuming from it later misses nothing. `undefined` only
 * when the history has never held anything.
 */
export type HistoryRead =
  /** Everything after the asked position is here (maybe nothing), oldest first. */
  | { readonly ok: true; readonly events: readonly PubSubEvent[]; readonly cursor: string | undefined }
  /**
   * Not everything after the asked position is kept: `expired` when it was
   * dropped (age, count), `unknown` when the position is not from this
   * history (another epoch, a malformed id).
   */
  | { readonly ok: false; readonly reason: 'expired' | 'unknown'; readonly cursor: string | undefined };

/** Code of {@link HistoryNotSupportedError}. */
export const HISTORY_NOT_SUPPORTED = 'ERR_TRPC_PUBSUB_HISTORY_NOT_SUPPORTED';

/** Thrown by {@link Engine.since} and {@link Engine.latest} of an engine that keeps no history (yet). */
export class HistoryNotSupportedError extends Error {
  override readonly name = 'HistoryNotSupportedError';
  /** Always {@link HISTORY_NOT_SUPPORTED}. */
  readonly code = HISTORY_NOT_SUPPORTED;
  constructor(engine: string) {
    super(`The ${engine} engine does not keep history yet`);
  }
}

/**
 * Carries published events between instances and keeps their history. The
 * core keeps the local subscriber index; an engine orders events, gives
 * them ids, stores them under each topic's {@link HistoryPolicy}, and tells
 * the core through {@link EngineContext.deliver} which ones arrived, in the
 * order every instance sees them.
 *
 * Event ids are made by the engine, so that one channel's order (and its
 * history's) is the same on every instance: their format is
 * `<epoch>:<position>` (PROTOCOL.md §3), opaque to clients.
 */
export interface Engine {
  /** Short name for logs and health (`memory`, `redis`, …). */
  readonly name: string;
  /** Called once by the core before any other method. */
  start(context: EngineContext): void | Promise<void>;
  /**
   * Appends `event` to `channel` (its history, when the topic keeps one)
   * and sends it to every instance, this one included, as one operation.
   * Resolves to the event with its id once the broker has it; rejects if
   * the broker cannot take it (then nothing was stored or delivered), or
   * with a {@link CommandTimeoutError} when the broker did not answer in
   * time (then it may still be stored and delivered: "maybe published").
   * @param channel the event's channel name (`topic` or `topic:key`)
   */
  publish(channel: string, event: EventDraft): Promise<PubSubEvent>;
  /** The events of `scope` after the event `cursor` (an id this engine gave), from history. */
  since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead>;
  /** The newest `n` events of `scope` from history, oldest first. */
  latest(scope: SubscriptionScope, n: number): Promise<HistoryRead>;
  /** The first local subscriber of `scope` arrived: start receiving its events. */
  listen(scope: SubscriptionScope): void | Promise<void>;
  /** The last local subscriber of `scope` left: stop receiving its events. */
  unlisten(scope: SubscriptionScope): void | Promise<void>;
  /** Current broker health, as last seen (no round trip). */
  health(): EngineHealth;
  /**
   * One bounded round trip to the broker (Redis: `PING` on each
   * connection; PostgreSQL: `SELECT 1` on the pool and on the listening
   * connection): `ok` when it answered, else `degraded` with the cause.
   * Never rejects, and never takes longer than {@link commandTimeoutMs}.
   * Optional: without it the core's readiness check reads {@link health}.
   */
  check?(): Promise<EngineHealth>;
  /**
   * The longest one broker call of this engine (a publish, a history read,
   * a check) waits for an answer before failing with a
   * {@link CommandTimeoutError}, in ms. An engine that declares it bounds
   * its own calls, and the core adds no deadline of its own; `Infinity`
   * for an engine whose calls cannot stall (the memory engine). An engine
   * without it gets the core's: {@link DEFAULT_COMMAND_TIMEOUT_MS} on each
   * publish, history read and check.
   */
  readonly commandTimeoutMs?: number;
  /**
   * Who is in each channel, shared by every instance. Optional: an engine
   * without it serves presence to this instance's own members only.
   */
  readonly presence?: EnginePresence;
  /** Releases every resource; safe to call twice. */
  close(): Promise<void>;
}

export { compareEventIds, formatEventId, parseEventId, randomEpoch } from './event-id.js';
export { COMMAND_TIMEOUT, CommandTimeoutError, DEFAULT_COMMAND_TIMEOUT_MS, Deadlines, isCommandTimeout } from './deadline.js';
export type { Deadline, DeadlinesOptions, Within } from './deadline.js';
