/**
 * trpc-pubsub server: typed topics, the tRPC router built from them, the
 * transport-free core (`src/core/`), the engine seam and the memory engine
 * (`src/engine/`), and the WebSocket transport (`src/transport/ws/`).
 * @module
 */
export {
  ALL_TOPICS,
  CloseCode,
  EVENTS_PROCEDURE,
  EVENT_ID_PATTERN,
  PRESENCE_PROCEDURE,
  PUBLISH_PROCEDURE,
  TOPIC_NAME_PATTERN,
  type ChannelKey,
  type GapReason,
  type GapSignal,
  type PresenceMember,
  type PresenceUpdate,
  type PubSubEvent,
  type WireEvent,
} from '../client/protocol.js';
export { defineTopics, topic } from './core/topics.js';
export type {
  AnyTopic,
  HistoryPolicy,
  KeySchema,
  PayloadSchema,
  PresencePolicy,
  TopicDefinition,
  TopicKey,
  TopicKeyInput,
  TopicOptions,
  TopicPayload,
  TopicPayloadInput,
  TopicPresenceInfo,
  TopicRecord,
} from './core/topics.js';
export { createPubSub, PubSub } from './core/pubsub.js';
export type { JsonSchema, TopicDescription } from './core/describe.js';
export type {
  AnyTopicEventOf,
  AuthorizeRequest,
  PresenceChannelArgs,
  PresenceInfoRequest,
  PresenceOptions,
  PresenceTopicNames,
  PublishArgs,
  PubSubOptions,
  SubscribeOptions,
  SubscriptionInfo,
  TopicEventOf,
  Unsubscribe,
} from './core/pubsub.js';
export { PubSubCore } from './core/core.js';
export type { CoreHealth, CoreState, ResumeRead } from './core/core.js';
export { Subscription, SubscriptionState } from './core/subscription.js';
export type { SubscriptionOrigin } from './core/subscription.js';
export { isSubscriptionRequest, SubscriptionRequest } from './core/subscription-request.js';
export type { TrackedItem } from './core/subscription-request.js';
export type { EncodedEvent } from './core/encoded-event.js';
export type { CoreCounters, TransportCounters } from './core/metrics.js';
export { DELIVERY_LATENCY_BUCKETS } from './core/metrics.js';
export { createPubSubRouter, topicProcedures } from './router/procedures.js';
export type {
  AnyBaseProcedure,
  AnyTopicWireEvent,
  EventsInput,
  PresenceInput,
  PresenceProcedures,
  PublishInput,
  PublishResult,
  TopicProcedures,
  TopicProceduresOptions,
  TopicProceduresRecord,
  TopicWireEvent,
  TrackedEvent,
} from './router/types.js';
export { createPubSubServer, PubSubServer } from './transport/ws/server.js';
export type { ListeningInfo, ListenOptions, ServerHealth, ServerState } from './transport/ws/server.js';
export { ConnectionState } from './transport/ws/connection.js';
export {
  DEFAULT_KEEPALIVE,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  DEFAULT_PATH,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_SLOW_CONSUMER,
} from './transport/ws/options.js';
export type { ConnectionInfo, CreateContextOptions, ServerOptions, SseOptions } from './transport/ws/options.js';
export { memoryEngine, MemoryEngine } from './engine/memory.js';
export { MemoryPresence } from './engine/memory-presence.js';
export { DEFAULT_PRESENCE_TTL_MS } from './core/presence.js';
export { HISTORY_NOT_SUPPORTED, HistoryNotSupportedError } from './engine/engine.js';
export { COMMAND_TIMEOUT, CommandTimeoutError, DEFAULT_COMMAND_TIMEOUT_MS, isCommandTimeout } from './engine/engine.js';
export type { Deadline, Within } from './engine/engine.js';
export type { Engine, EngineContext, EngineHealth, EnginePresence, EventDraft, HistoryRead, PresenceChange } from './engine/engine.js';
export type { BridgeCodec, BridgeMessage } from './engine/bridge-message.js';
export { BridgeEngine, graphqlSubscriptionsEngine } from './engine/bridge.js';
export type { BridgeEngineOptions, BridgeStats, BrokerLink, BrokerLinkEvents, BrokerPubSub } from './engine/bridge.js';
export type { SubscriptionScope } from './core/scope.js';
export { channelName } from './core/scope.js';
export { createConsoleLogger, createLogger, fromPino, logLevelFromEnv, silentLogger } from './core/logger.js';
export { MissingPeerDependencyError } from './engine/optional-peer.js';
export type { Logger, LogLevel } from './core/logger.js';
