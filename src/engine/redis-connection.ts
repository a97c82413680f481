/**
 * The Redis engine's dealings with its `ioredis` connections: watching
 * them for health, the subscriber as `RedisPubSub` sees it, publishing
 * (routed by hash slot on a Cluster), and the `BrokerPubSub` over a
 * `RedisPubSub`. Only public `ioredis` and `RedisPubSub` API is used.
 * @module
 */
import type { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Callback, Cluster, Redis } from 'ioredis';
import type { BrokerPubSub } from './broker-link.js';

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

type Listener = (...args: unknown[]) => void;

/** The methods `RedisPubSub` 2.7 calls on the subscriber it is given. */
interface SubscriberSurface {
  on(event: string, listener: Listener): SubscriberSurface;
  subscribe(channel: string, callback: Callback<unknown>): Promise<unknown>;
  psubscribe(pattern: string, callback: Callback<unknown>): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  punsubscribe(pattern: string): Promise<unknown>;
}

/**
 * The subscriber handed to `RedisPubSub`: a small object with just the
 * methods `RedisPubSub` 2.7 calls on it (`on` for `message`/`pmessage` in
 * its constructor, `subscribe`/`psubscribe` in `subscribe`,
 * `unsubscribe`/`punsubscribe` in `unsubscribe`), each passed on to
 * `client`. It handles the promises of `unsubscribe`/`punsubscribe`,
 * which `RedisPubSub` drops and which reject when the connection closes
 * or gives up on queued commands, and it records the listeners
 * `RedisPubSub` adds, so that `release` removes exactly those from a
 * client the application owns. The engine never calls `close` or
 * `getSubscriber` on that `RedisPubSub`, so nothing else is needed.
 */
export function subscriberFor(client: RedisClient, log: Log): { subscriber: RedisClient; release(): void } {
  const added: [string, Listener][] = [];
  const dropped = (command: string) => (error: unknown) => {
    log('debug', `redis ${command} failed`, { error: String(error) });
  };
  const surface: SubscriberSurface = {
    on(event, listener) {
      added.push([event, listener]);
      client.on(event, listener);
      return surface;
    },
    subscribe: (channel, callback) => client.subscribe(channel, callback),
    psubscribe: (pattern, callback) => client.psubscribe(pattern, callback),
    unsubscribe: (channel) => client.unsubscribe(channel).catch(dropped('unsubscribe')),
    punsubscribe: (pattern) => client.punsubscribe(pattern).catch(dropped('punsubscribe')),
  };
  return {
    // Typed as a client for RedisPubSub's options; it has only what RedisPubSub calls (see above).
    subscriber: surface as unknown as RedisClient,
    release() {
      for (const [event, listener] of added.splice(0)) client.off(event, listener);
    },
  };
}

/** Sends `message` on `channel`; resolves once Redis took it. */
export type Publish = (channel: string, message: string) => Promise<unknown>;

/**
 * The `ioredis` command the engine defines on a Cluster publisher, named
 * with a version so that another copy of trpc-pubsub defining a different
 * script never shares the name.
 */
const PUBLISH_COMMAND = 'trpcPubsubPublishV1';
/**
 * `PUBLISH ARGV[1] ARGV[2]`, with the channel also as `KEYS[1]`: the key
 * only routes the script (a Cluster client sends it to the master of the
 * key's slot). The channel is published from `ARGV`, so that a client
 * `keyPrefix`, which `ioredis` adds to keys but not to channels, never
 * renames it.
 */
const PUBLISH_SCRIPT = "return redis.call('PUBLISH', ARGV[1], ARGV[2])";

/**
 * How the engine publishes through `client`. On a Redis Cluster, a plain
 * `PUBLISH` entering through different nodes reaches the subscribers of
 * different nodes in different orders (each node delivers its own
 * publishes first, then forwards them over the cluster bus). So every
 * publish of a channel enters through one node, the master of the
 * channel's hash slot: it is a Lua script declaring the channel as its
 * key, defined with `ioredis`' `defineCommand` and routed by its
 * documented key-based Cluster routing (and `MOVED` handling). A
 * standalone client publishes with plain `PUBLISH` (one node: one order).
 */
export function publisherFor(client: RedisClient): Publish {
  if (!client.isCluster) return (channel, message) => client.publish(channel, message);
  const scripted = client as Cluster & Partial<Record<typeof PUBLISH_COMMAND, (key: string, channel: string, message: string) => Promise<number>>>;
  if (typeof scripted[PUBLISH_COMMAND] !== 'function') scripted.defineCommand(PUBLISH_COMMAND, { numberOfKeys: 1, lua: PUBLISH_SCRIPT });
  const publish = scripted[PUBLISH_COMMAND];
  if (publish === undefined) throw new Error(`ioredis defineCommand did not define ${PUBLISH_COMMAND}`);
  return (channel, message) => publish.call(client, channel, channel, message);
}

const ignore = (): void => {};

/**
 * The engine's {@link BrokerPubSub} over a `RedisPubSub` (the engine's own,
 * or one the application gave), publishing through `publish` when given.
 *
 * A failed `SUBSCRIBE` (the connection closed, or gave up on queued
 * commands) rejects the promise `RedisPubSub.subscribe` returns, and
 * `RedisPubSub` 2.7 also rejects an internal promise that only later
 * `subscribe` calls of the same trigger wait on: with none, an unhandled
 * rejection that would end the process. So each subscribe takes at once a
 * second, no-op subscription of the same trigger, whose promise is
 * handled: it waits on that internal promise, and is ended as soon as it
 * is effective. Should `RedisPubSub` stop sharing the pending `SUBSCRIBE`,
 * the second subscription is merely short-lived.
 */
export function redisBroker(pubsub: RedisPubSub, log: Log, publish?: Publish): BrokerPubSub {
  return {
    publish:
      publish === undefined
        ? (trigger, payload) => pubsub.publish(trigger, payload)
        : async (trigger, payload) => {
            await publish(trigger, String(payload));
          },
    subscribe(trigger, onMessage, options) {
      const subscribed = pubsub.subscribe(trigger, onMessage, options);
      pubsub
        .subscribe(trigger, ignore, options)
        .then((companion) => pubsub.unsubscribe(companion))
        .catch((error: unknown) => log('debug', 'redis subscribe failed', { channel: trigger, error: String(error) }));
      return subscribed;
    },
    unsubscribe: (subId) => pubsub.unsubscribe(subId),
  };
}
