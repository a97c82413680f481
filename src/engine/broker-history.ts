/**
 * What a bridge engine needs to keep history in its broker: one operation
 * that appends an event to its channel's history and publishes it, giving
 * it its id, and the reads that resume needs.
 * @module
 */
import type { HistoryPolicy, HistoryRead, PubSubEvent, SubscriptionScope } from './engine.js';

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
   * operation. Resolves to the id.
   */
  append(brokerChannel: string, event: PubSubEvent, channel: string, text: string, policy: HistoryPolicy): Promise<string>;
  /** The events of `scope` after `cursor` (see `Engine.since`); throws `HistoryNotSupportedError` for scopes it cannot read. */
  since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead>;
  /** The newest `n` events of `scope` (see `Engine.latest`). */
  latest(scope: SubscriptionScope, n: number): Promise<HistoryRead>;
}
