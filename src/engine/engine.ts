import type { PubSubEvent } from '../../client/protocol.js';
import type { SubscriptionScope } from '../subscription-scope.js';

/** What an engine reports about its broker connection. */
export interface EngineHealth {
  /** `ok`: events flow; `degraded`: local delivery works but the broker is unreachable. */
  status: 'ok' | 'degraded';
  /** Human-readable detail, such as the broker error. */
  detail?: string;
}

/** What the core hands an engine when it starts. */
export interface EngineContext {
  /** Delivers an event that reached this instance to its local subscribers (in broker order). */
  deliver(event: PubSubEvent): void;
  /** Structured log sink. */
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /**
   * Unique id of this instance (the prefix of the event ids it stamps);
   * broker engines put it on every bridged message. Engines make one up
   * when it is absent.
   */
  readonly instanceId?: string;
  /**
   * Names of the declared topics, so that a broker engine can listen to
   * every topic for an all-topics scope.
   */
  readonly topics?: readonly string[];
}

/**
 * Carries published events between instances. The core keeps the local
 * subscriber index; an engine only moves events and tells the core, through
 * `deliver`, which ones arrived, in the order every instance sees them.
 *
 * The in-memory engine delivers synchronously in `publish`; broker engines
 * deliver when the broker hands the event back, so all instances agree on
 * a channel's order.
 */
export interface Engine {
  /** Short name for logs and health (`memory`, `redis`, …). */
  readonly name: string;
  /** Called once by the core before any other method. */
  start(context: EngineContext): void | Promise<void>;
  /** Sends `event` to every instance, this one included. Rejects if the broker cannot take it. */
  publish(event: PubSubEvent): Promise<void>;
  /** The first local subscriber of `scope` arrived: start receiving its events. */
  listen(scope: SubscriptionScope): void | Promise<void>;
  /** The last local subscriber of `scope` left: stop receiving its events. */
  unlisten(scope: SubscriptionScope): void | Promise<void>;
  /** Current broker health. */
  health(): EngineHealth;
  /** Releases every resource; safe to call twice. */
  close(): Promise<void>;
}
