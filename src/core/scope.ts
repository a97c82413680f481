/**
 * Subscription scopes as the core uses them: the scope of a topic
 * subscription, and the all-topics restriction under `authorize`. The scope
 * type and channel names themselves belong to the engine seam.
 * @module
 */
import type { ChannelKey } from '../../client/protocol.js';
import { channelName, scopeName, type SubscriptionScope } from '../engine/engine.js';
import type { EncodedEvent } from './encoded-event.js';

export { channelName, scopeName };
export type { SubscriptionScope };

/**
 * The scope of a subscription to `topic` with an already validated `key`:
 * one channel, or every key of a keyed topic when `key` is omitted.
 */
export function topicScope(topic: string, keyed: boolean, key: ChannelKey | undefined): SubscriptionScope {
  return keyed && key === undefined ? { kind: 'topic', topic } : { kind: 'channel', topic, key };
}

/**
 * The topics an all-topics subscription under `authorize` may receive;
 * `undefined` for every topic.
 */
export type AllowedTopics = ReadonlySet<string> | undefined;

/**
 * Whether a subscription restricted to `allowed` receives `encoded` (on
 * the fan-out path: the event is only read when there is a restriction).
 */
export function allowsEvent(allowed: AllowedTopics, encoded: EncodedEvent): boolean {
  return allowed === undefined || allowed.has(encoded.event.topic);
}

