/**
 * What a bridge engine is built from: the broker client's publish and
 * subscribe calls ({@link BrokerPubSub}, the `graphql-subscriptions` ones)
 * and the broker connection's own handling ({@link BrokerLink}).
 * @module
 */
import type { Deadline, Within } from './deadline.js';
import type { EngineHealth } from './engine.js';

/**
 * What a bridge needs from a broker client: the `graphql-subscriptions`
 * `PubSubEngine` calls (`RedisPubSub`, `PubSub`, or any other engine).
 */
export interface BrokerPubSub {
  /**
   * Sends `payload` to every subscriber of `trigger`. A bridge engine passes
   * the publish's `deadline`: a broker that queues publishes should not send
   * one whose deadline expired while it waited (its caller was told it failed).
   */
  publish(trigger: string, payload: unknown, deadline?: Deadline): Promise<void>;
  /** Calls `onMessage` for each payload published on `trigger`; resolves to a subscription id once effective. */
  subscribe(trigger: string, onMessage: (message: unknown) => void, options?: object): Promise<number>;
  /** Ends the subscription `subId`. */
  unsubscribe(subId: number): unknown;
}

/** What a {@link BrokerLink} tells its engine. */
export interface BrokerLinkEvents {
  /** Structured log, tagged with the engine's name. */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
  /** The broker connection was lost: publishes waiting for a subscription in flight stop waiting (and fail while degraded). */
  lost(): void;
  /**
   * The connection that receives (subscribes, listens) was lost: events
   * published meanwhile will not reach this instance, so each topic it
   * listens to is caught up (or its subscribers told) at the next `restored`.
   */
  listenerLost(): void;
  /** The broker connection is back (and listening again): broker channels that need a subscription get one, missed events are caught up. */
  restored(): void;
}

/** A broker's own connection handling, as a {@link BridgeEngine} drives it. */
export interface BrokerLink {
  /** Connects the broker; resolves once connected or after the first failure (then the engine starts degraded). */
  connect(events: BrokerLinkEvents): void | Promise<void>;
  /** The broker connection's health, as last seen. */
  health(): EngineHealth;
  /**
   * One round trip on each broker connection, each run through `within`
   * (which bounds it by the engine's `commandTimeoutMs`; every wait of the
   * check must go through it): `ok` when every
   * one answered, else `degraded` naming the ones that did not. Called only
   * while {@link health} is `ok`. Optional: without it, the engine's check
   * is {@link health}.
   */
  check?(within: Within): Promise<EngineHealth>;
  /**
   * Whether a failed call failed on the broker client's own timeout (ioredis
   * `commandTimeout`, pg `query_timeout`): the engine then reports it as a
   * `CommandTimeoutError`, as it does its own timeouts.
   */
  isTimeout?(error: unknown): boolean;
  /** Releases the broker connection; called once, after every broker channel is released. */
  disconnect(): void | Promise<void>;
}

