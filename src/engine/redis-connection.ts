import type { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Cluster, Redis } from 'ioredis';
import type { BrokerPubSub } from './bridge.js';
import { Command } from './redis-peers.js';

/** A standalone `ioredis` client or a Redis Cluster client. */
export type RedisClient = Redis | Cluster;

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

const LOST_EVENTS = ['close', 'end', 'reconnecting'] as const;

/**
 * Watches one Redis connection for the engine: handles every `error`
 * event (so none crashes the process), remembers the last error for
 * health, logs a loss once and its recovery once, and tells the engine.
 */
export class RedisConnectionWatch {
  #lastError: string | undefined;
  #wasReady: boolean;
  #lossLogged = false;
  readonly #detach: (() => void)[] = [];

  constructor(
    /** `publisher` or `subscriber`, for logs and health. */
    readonly role: string,
    /** The watched client. */
    readonly client: RedisClient,
    private readonly hooks: { log: Log; onReady: () => void; onLost: () => void },
  ) {
    this.#wasReady = client.status === 'ready';
    this.#on('error', (error: unknown) => this.#error(error));
    this.#on('node error', (error: unknown) => this.#error(error));
    this.#on('ready', () => this.#ready());
    for (const event of LOST_EVENTS) this.#on(event, () => this.#lost(undefined));
  }

  /** Whether the connection can carry commands now. */
  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** `role status: last error`, for a degraded health detail. */
  describe(): string {
    return `${this.role} ${this.client.status}${this.#lastError === undefined ? '' : ` (${this.#lastError})`}`;
  }

  /** Resolves when the connection is ready, or on its first error (the engine then starts degraded). */
  whenSettled(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.client.off('ready', done);
        this.client.off('error', done);
        this.client.off('end', done);
        resolve();
      };
      this.client.on('ready', done);
      this.client.on('error', done);
      this.client.on('end', done);
    });
  }

  /** Removes every listener this watch added. */
  dispose(): void {
    for (const detach of this.#detach.splice(0)) detach();
  }

  #on(event: string, listener: (...args: unknown[]) => void): void {
    this.client.on(event, listener);
    this.#detach.push(() => this.client.off(event, listener));
  }

  #error(error: unknown): void {
    this.#lastError = error instanceof Error ? error.message : String(error);
    this.#lost(this.#lastError);
  }

  #lost(error: string | undefined): void {
    if (this.ready) return;
    if (!this.#lossLogged && (this.#wasReady || error !== undefined)) {
      this.#lossLogged = true;
      this.hooks.log('warn', 'redis connection lost', { role: this.role, status: this.client.status, error });
    } else if (error !== undefined) {
      this.hooks.log('debug', 'redis connection error', { role: this.role, error });
    }
    this.hooks.onLost();
  }

  #ready(): void {
    if (this.#lossLogged) this.hooks.log('info', 'redis connection restored', { role: this.role });
    this.#lossLogged = false;
    this.#wasReady = true;
    this.#lastError = undefined;
    this.hooks.onReady();
  }
}

/**
 * Wraps the subscriber client handed to `RedisPubSub`: its `unsubscribe`
 * fires `UNSUBSCRIBE`/`PUNSUBSCRIBE` without handling their promises, which
 * reject when the connection closes (an unhandled rejection); the wrapper
 * handles them, and records the listeners `RedisPubSub` adds so that they
 * can be removed from a client the application owns.
 */
export function guardSubscriber(client: RedisClient, log: Log): { client: RedisClient; release(): void } {
  const added: [string | symbol, (...args: unknown[]) => void][] = [];
  const proxy = new Proxy(client, {
    get(target, property) {
      if (property === 'unsubscribe' || property === 'punsubscribe') {
        return (...args: unknown[]) => {
          const result = (target[property] as (...a: unknown[]) => Promise<unknown>)(...args);
          result.catch((error: unknown) => log('debug', `redis ${property} failed`, { error: String(error) }));
          return result;
        };
      }
      if (property === 'on') {
        return (event: string | symbol, listener: (...args: unknown[]) => void) => {
          added.push([event, listener]);
          target.on(event, listener);
          return proxy;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    client: proxy,
    release() {
      for (const [event, listener] of added.splice(0)) client.off(event, listener);
    },
  };
}

/**
 * Wraps a `RedisPubSub` so that a failed `SUBSCRIBE` (the connection
 * closed, or gave up retrying) only rejects the promise the engine awaits:
 * `RedisPubSub` 2.7 also rejects an internal deferred nobody listens to,
 * an unhandled rejection that would end the process.
 */
export function guardRedisPubSub(pubsub: RedisPubSub): BrokerPubSub {
  type Internals = { subsPendingRefsMap?: Map<string, { pending?: { promise?: Promise<unknown> } }> };
  return {
    publish: (trigger, payload) => pubsub.publish(trigger, payload),
    subscribe(trigger, onMessage, options) {
      const subscribed = pubsub.subscribe(trigger, onMessage, options);
      (pubsub as unknown as Internals).subsPendingRefsMap?.get(trigger)?.pending?.promise?.catch(() => {});
      return subscribed;
    },
    unsubscribe: (subId) => pubsub.unsubscribe(subId),
  };
}

/**
 * On a Redis Cluster, a plain `PUBLISH` entering through different nodes
 * reaches the subscribers of different nodes in different orders (each
 * node delivers its own publishes first, then forwards them over the
 * cluster bus). Routing every publish of a channel to the master of the
 * channel's hash slot gives the channel one entry point, so every
 * subscriber, on whatever node, sees that node's order. A standalone
 * client is returned as is.
 */
export function routePublishBySlot(client: RedisClient): RedisClient {
  if (!client.isCluster) return client;
  const cluster = client as Cluster;
  return new Proxy(cluster, {
    get(target, property) {
      if (property === 'publish') {
        return (channel: string, message: string) => {
          const slot = new Command('get', [channel]).getSlot();
          const command = new Command('publish', [channel, message], { replyEncoding: 'utf8' });
          target.sendCommand(command, undefined, { slot });
          return command.promise;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
