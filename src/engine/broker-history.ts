/**
 * What a bridge engine needs to keep history in its broker: one operation
 * that appends an event to its channel's history and publishes it, giving
 * it its id, and the reads that resume needs; plus what every broker
 * history reads the same way (cursors, stored messages, merging).
 * @module
 */
import { decodeBridgeMessage, type BridgeCodec } from './bridge-message.js';
import type { Deadline } from './deadline.js';
import { formatEventId, HistoryNotSupportedError, parseEventId, type HistoryPolicy, type HistoryRead, type PubSubEvent, type SubscriptionScope } from './engine.js';

/**
 * The id the bridge puts in an event before the broker gives it its real
 * one; the broker replaces the first occurrence in the encoded message.
 */
export const ID_PLACEHOLDER = '__trpc_pubsub_id__';

/** A broker's history, as a {@link BridgeEngine} uses it. */
export interface BrokerHistory {
  /**
   * Appends `text` (an encoded bridge message whose event id is
   * {@link ID_PLACEHOLDER}) to `channel`'s history under `policy` and
   * publishes it, with its id in place, on `brokerChannel`, as one broker
   * operation. Resolves to the id. An append that waits its turn should
   * not start once `deadline` expired (its caller was told it failed).
   */
  append(brokerChannel: string, event: PubSubEvent, channel: string, text: string, policy: HistoryPolicy, deadline?: Deadline): Promise<string>;
  /** The events of `scope` after `cursor` (see `Engine.since`); throws `HistoryNotSupportedError` for scopes it cannot read. */
  since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead>;
  /** The newest `n` events of `scope` (see `Engine.latest`). */
  latest(scope: SubscriptionScope, n: number): Promise<HistoryRead>;
}

/** An event read from a broker's history, with its position there. */
export interface Positioned {
  readonly position: number;
  readonly event: PubSubEvent;
}

/** The topic whose history a scope reads; every topic at once has no common order in a broker history (yet). */
export function historyTopic(scope: SubscriptionScope, engine: string): string {
  if (scope.kind === 'all') throw new HistoryNotSupportedError(`${engine} engine (for every topic at once)`);
  return scope.topic;
}

/**
 * The position `cursor` names in the history `epoch` whose newest position
 * is `newest`; `undefined` when it is not one of its ids (another epoch,
 * malformed, or ahead of the history).
 */
export function cursorPosition(cursor: string, epoch: string, newest: number): number | undefined {
  const parsed = parseEventId(cursor);
  if (parsed?.epoch !== epoch || !/^\d{1,15}$/.test(parsed.position)) return undefined;
  const position = Number(parsed.position);
  return position > newest ? undefined : position;
}

/** The event a stored message (its id still {@link ID_PLACEHOLDER}) holds at `position` of `epoch`; `undefined` when it cannot be decoded. */
export function decodeStored(text: string, epoch: string, position: number, codec: BridgeCodec): Positioned | undefined {
  const decoded = decodeBridgeMessage(text.replace(ID_PLACEHOLDER, formatEventId(epoch, String(position))), codec);
  return decoded.ok ? { position, event: decoded.message.event } : undefined;
}

/** The oldest `ts` the age bound of `policy` keeps now (`-Infinity` without one). */
export function ageCutoff(policy: HistoryPolicy | undefined, now: number): number {
  return policy?.maxAgeMs === undefined ? -Infinity : now - policy.maxAgeMs;
}

/**
 * A successful read of events gathered from several channels: in position
 * order, at most the newest `limit`; its cursor is the last event's id, or
 * `head` when there is none.
 */
export function mergedRead(found: Positioned[], head: string | undefined, limit = Infinity): HistoryRead {
  found.sort((a, b) => a.position - b.position);
  const events = found.slice(Math.max(0, found.length - limit)).map((f) => f.event);
  return { ok: true, events, cursor: events.at(-1)?.id ?? head };
}
