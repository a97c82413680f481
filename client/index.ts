/**
 * trpc-pubsub browser-safe client: the convenience client, its options and
 * the shared protocol constants. No Node-only imports.
 * @module
 */
export { ConnectionError, createPubSubClient } from './pubsub-client.js';
export type { ClientSubscription, ConnectionStatus, DisconnectInfo, PubSubClient, PubSubClientOptions } from './pubsub-client.js';
export { backoffDelay, DEFAULT_RETRY } from './backoff.js';
export type { RetryOptions } from './backoff.js';
export type {
  AnyTopicEventOf,
  PresenceOptionsOf,
  PresenceTopicNamesOf,
  PresenceUpdateOf,
  PublishArgsOf,
  SubscribeOptionsOf,
  SubscriptionOptions,
  TopicEventOf,
  TopicNamesOf,
} from './router-types.js';
export {
  ALL_TOPICS,
  CloseCode,
  EVENT_ID_PATTERN,
  EVENTS_PROCEDURE,
  isValidChannelKey,
  isValidEventId,
  isValidTopicName,
  isGapSignal,
  isWireEvent,
  MAX_KEY_LENGTH,
  PING,
  PONG,
  PUBLISH_PROCEDURE,
  TOPIC_NAME_PATTERN,
} from './protocol.js';
export type { ChannelKey, GapReason, GapSignal, PresenceMember, PresenceUpdate, PubSubEvent, WireEvent } from './protocol.js';
