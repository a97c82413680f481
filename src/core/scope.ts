import type { ChannelKey } from '../../client/protocol.js';
import type { EncodedEvent } from './encoded-event.js';

/**
 * What a subscription listens to: one channel (a topic, and its key if the
 * topic is keyed), every key of a topic, or every topic.
 */
export type SubscriptionScope =
  | { readonly kind: 'channel'; readonly topic: string; readonly key: ChannelKey | undefined }
  | { readonly kind: 'topic'; readonly topic: string }
  | { readonly kind: 'all' };

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
