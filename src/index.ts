/**
 * trpc-pubsub server: typed topics, the tRPC router built from them, the
 * pubsub hub, engines and the WebSocket server.
 * @module
 */
export {
  ALL_TOPICS,
  CloseCode,
  EVENTS_PROCEDURE,
  EVENT_ID_PATTERN,
  PUBLISH_PROCEDURE,
  TOPIC_NAME_PATTERN,
  type ChannelKey,
  type PubSubEvent,
  type WireEvent,
} from '../client/protocol.js';
export { defineTopics, topic } from './topics.js';
export type {
  AnyTopic,
  HistoryPolicy,
  KeySchema,
  PayloadSchema,
  TopicDefinition,
  TopicKey,
  TopicKeyInput,
  TopicOptions,
  TopicPayload,
  TopicPayloadInput,
  TopicRecord,
} from './topics.js';
export { createPubSub, PubSub } from './pubsub.js';
export type {
  AnyTopicEventOf,
  AuthorizeRequest,
  PublishArgs,
  PubSubOptions,
  SubscribeOptions,
  SubscriptionInfo,
  TopicEventOf,
  Unsubscribe,
} from './pubsub.js';
export { createPubSubRouter, topicProcedures, TopicSubscription } from './router.js';
export type {
  AnyBaseProcedure,
  AnyTopicWireEvent,
  EventsInput,
  PublishInput,
  PublishResult,
  TopicProcedures,
  TopicProceduresOptions,
  TopicProceduresRecord,
  TopicWireEvent,
  TrackedEvent,
} from './router.js';
export { createPubSubServer, PubSubServer } from './server/server.js';
export type { ListeningInfo, ListenOptions, ServerHealth } from './server/server.js';
export {
  DEFAULT_KEEPALIVE,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  DEFAULT_PATH,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_SLOW_CONSUMER,
} from './server/options.js';
export type { ConnectionInfo, CreateContextOptions, ServerOptions } from './server/options.js';
export { memoryEngine, MemoryEngine } from './engine/memory.js';
export type { Engine, EngineContext, EngineHealth } from './engine/engine.js';
export type { BridgeCodec, BridgeMessage } from './engine/bridge-message.js';
export { BridgeEngine, graphqlSubscriptionsEngine } from './engine/bridge.js';
export type { BridgeEngineOptions, BridgeStats, BrokerPubSub } from './engine/bridge.js';
export type { SubscriptionScope } from './subscription-scope.js';
export { channelName } from './subscription-scope.js';
export { MemoryHistory } from './history.js';
export type { ReplayResult } from './history.js';
export { createConsoleLogger, silentLogger } from './logger.js';
export { MissingPeerDependencyError } from './engine/optional-peer.js';
export type { Logger, LogLevel } from './logger.js';
