/**
 * The Redis engine: several trpc-pubsub instances share events through
 * Redis (standalone or Cluster), via `graphql-redis-subscriptions`'
 * `RedisPubSub` over `ioredis`.
 * @module
 */
import type { RedisPubSub as RedisPubSubInstance } from 'graphql-redis-subscriptions';
import type { Redis as RedisInstance, RedisOptions } from 'ioredis';
import type { BridgeCodec } from './bridge-message.js';
import { BridgeEngine, DEFAULT_PREFIX, type BrokerLink, type BrokerLinkEvents, type BrokerPubSub } from './bridge.js';
import { commandTimeout, type Within } from './deadline.js';
import type { EngineHealth } from './engine.js';
import { RedisHistory } from './redis-history.js';
import { RedisPresence } from './redis-presence.js';
import { Redis, RedisPubSub } from './redis-peers.js';
import { publisherFor, RedisConnectionWatch, redisBroker, subscriberFor, type RedisClient } from './redis-connection.js';

export { BridgeEngine, DEFAULT_PREFIX, graphqlSubscriptionsEngine } from './bridge.js';
export { RedisPresence } from './redis-presence.js';
export type { BridgePresence, BridgeEngineOptions, BridgeStats, BrokerLink, BrokerLinkEvents, BrokerPubSub } from './bridge.js';
export { BRIDGE_MESSAGE_VERSION, decodeBridgeMessage, encodeBridgeMessage, jsonCodec } from './bridge-message.js';
export type { BridgeCodec, BridgeMessage, DecodeResult } from './bridge-message.js';
export type { RedisClient } from './redis-connection.js';

/** Options of {@link redisEngine}. Give a `url`, or both clients, or a `pubsub`; nothing means `REDIS_URL`. */
export interface RedisEngineOptions {
  /**
   * `redis://[user:password@]host:port[/db]` or `rediss://…`; the engine
   * creates, connects and closes its two connections.
   * @default process.env.REDIS_URL, else redis://127.0.0.1:6379
   */
  url?: string;
  /**
   * Extra `ioredis` options for connections created from `url`. Their
   * `commandTimeout` is `commandTimeoutMs`, on the publishing connection only.
   */
  redisOptions?: RedisOptions;
  /**
   * Channel-name prefix: apps with different prefixes share one Redis
   * without seeing each other's events. 1-64 characters of `[A-Za-z0-9_.:-]`.
   * @default 'trpc-pubsub'
   */
  prefix?: string;
  /**
   * Your publishing connection (a `Redis` or a `Cluster`), with
   * `subscriber`. Yours to close. A standalone `Redis` is best with
   * `enableOfflineQueue: false`; leave a `Cluster`'s offline queue on (its
   * node connections open lazily). Either way, publishes are refused while
   * the engine's health is degraded. Give it
   * `autoResendUnfulfilledCommands: false`: ioredis otherwise sends a
   * publish again after a reconnect when its reply was lost, and the event
   * is appended twice.
   */
  publisher?: RedisClient;
  /**
   * Your subscribing connection (a separate client, used only by this
   * engine), with `publisher`. Yours to close; keep `autoResubscribe`.
   */
  subscriber?: RedisClient;
  /**
   * Any `graphql-subscriptions` `PubSubEngine`, such as your own
   * `RedisPubSub`. It must round-trip strings. Health follows its
   * `getPublisher()`/`getSubscriber()` connections when it has them.
   */
  pubsub?: BrokerPubSub;
  /** Serializes bridge messages (e.g. `superjson` for dates). @default JSON */
  codec?: BridgeCodec;
  /**
   * Longest one broker call waits for Redis, in ms: a publish (then
   * `SERVICE_UNAVAILABLE`, "maybe published"), a history read (retried,
   * then `SERVICE_UNAVAILABLE`), a `check()` `PING` (then `degraded`).
   * On connections created from `url` it is also ioredis' `commandTimeout`
   * of the publishing connection (every command on it, catch-up reads
   * included). Your own clients keep their options: give them
   * `commandTimeout` yourself to bound the commands the engine does not
   * wait on. `Infinity` for none.
   * @default DEFAULT_COMMAND_TIMEOUT_MS (5000)
   */
  commandTimeoutMs?: number;
}

interface Resolved {
  pubsub: BrokerPubSub;
  publisher: RedisClient | undefined;
  subscriber: RedisClient | undefined;
  owned: boolean;
  release: (() => void) | undefined;
}

/**
 * The Redis engine. One Redis channel per topic, `<prefix>:{<topic>}`,
 * subscribed exactly (no patterns) while the instance has a local
 * subscriber of the topic (one key, every key, or every topic) and
 * released with the last. Events are delivered when Redis hands them back,
 * so every instance sees a channel in Redis's order. While Redis is away,
 * `health()` is `degraded`, publishes fail at once (the core answers
 * `SERVICE_UNAVAILABLE`), and the connections reconnect and resubscribe by
 * themselves. While Redis stalls (up, but not answering), publishes fail
 * after `commandTimeoutMs`, and `check()` (`PING` on both connections)
 * reports `degraded`.
 */
export class RedisEngine extends BridgeEngine {
  readonly #publisher: RedisClient | undefined;
  readonly #subscriber: RedisClient | undefined;

  constructor(options: RedisEngineOptions = {}) {
    const logTo: { log: Log } = { log: () => {} };
    const timeoutMs = commandTimeout('redisEngine', options.commandTimeoutMs);
    const resolved = resolve(options, timeoutMs, (level, message, fields) => logTo.log(level, message, fields));
    const link = new RedisLink(resolved);
    const publisher = resolved.publisher;
    super(resolved.pubsub, {
      name: 'redis',
      prefix: options.prefix,
      codec: options.codec,
      commandTimeoutMs: timeoutMs,
      link,
      // History on Redis Streams, through the publishing connection (Lua: append, trim and publish as one step).
      history: publisher === undefined ? undefined : (deps) => new RedisHistory(publisher, deps),
      // Presence in a hash and a sorted set per channel, through the publishing connection; announcements on the subscribing one.
      presence: publisher === undefined ? undefined : new RedisPresence(publisher, { prefix: options.prefix ?? DEFAULT_PREFIX }),
    });
    logTo.log = (level, message, fields) => link.log(level, message, fields);
    this.#publisher = resolved.publisher;
    this.#subscriber = resolved.subscriber;
  }

  /** The publishing connection, when the engine knows it. */
  get publisher(): RedisClient | undefined {
    return this.#publisher;
  }

  /** The subscribing connection, when the engine knows it. */
  get subscriber(): RedisClient | undefined {
    return this.#subscriber;
  }
}

/**
 * The Redis connections of an engine: watched for loss and recovery,
 * connected and closed when the engine owns them.
 */
class RedisLink implements BrokerLink {
  readonly #watches: RedisConnectionWatch[] = [];
  #events: BrokerLinkEvents | undefined;

  constructor(private readonly resolved: Resolved) {}

  /** Logs through the engine once it started (nothing before). */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.#events?.log(level, message, fields);
  }

  async connect(events: BrokerLinkEvents): Promise<void> {
    this.#events = events;
    const log: Log = (level, message, fields) => events.log(level, message, fields);
    const hooks = {
      log,
      onReady: () => {
        if (!this.#watches.every((w) => w.ready)) return;
        // A standalone subscriber resubscribes as it becomes ready: a PING behind those SUBSCRIBEs
        // answers once they are effective, so that a catch-up from history misses nothing.
        const subscriber = this.resolved.subscriber;
        const effective = subscriber === undefined || subscriber.isCluster ? Promise.resolve() : (subscriber as RedisInstance).ping().then(
          () => undefined,
          () => undefined,
        );
        void effective.then(() => events.restored());
      },
      onLost: () => events.lost(),
    };
    const { publisher, subscriber, owned } = this.resolved;
    if (publisher !== undefined) this.#watches.push(new RedisConnectionWatch('publisher', publisher, hooks));
    const subscriberHooks = {
      ...hooks,
      onLost: () => {
        events.lost();
        events.listenerLost();
      },
    };
    if (subscriber !== undefined) this.#watches.push(new RedisConnectionWatch('subscriber', subscriber, subscriberHooks));
    if (owned) {
      for (const watch of this.#watches) {
        (watch.client as RedisInstance).connect().catch(() => {
          /* reported through the watch's error event; ioredis keeps retrying */
        });
      }
    }
    await Promise.all(this.#watches.map((w) => w.whenSettled()));
    const health = this.health();
    if (health.status !== 'ok') log('warn', 'redis engine starting degraded', { detail: health.detail });
  }

  health(): EngineHealth {
    const down = this.#watches.filter((w) => !w.ready);
    if (down.length === 0) return { status: 'ok' };
    return { status: 'degraded', detail: `redis ${down.map((w) => w.describe()).join('; ')}` };
  }

  /** `PING` on each connection (publishing and subscribing), at once, each bounded by `within`. */
  async check(within: Within): Promise<EngineHealth> {
    const causes = await Promise.all(
      this.#watches.map((watch) =>
        within(`redis ${watch.role} PING`, () => (watch.client as RedisInstance).ping()).then(
          () => undefined,
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        ),
      ),
    );
    const failed = causes.filter((cause) => cause !== undefined);
    return failed.length === 0 ? { status: 'ok' } : { status: 'degraded', detail: failed.join('; ') };
  }

  /** ioredis' `commandTimeout` error. */
  isTimeout(error: unknown): boolean {
    return error instanceof Error && error.message === 'Command timed out';
  }

  disconnect(): void {
    for (const watch of this.#watches.splice(0)) watch.dispose();
    const { publisher, subscriber, owned, release } = this.resolved;
    release?.();
    if (!owned) return;
    for (const client of [publisher, subscriber]) {
      if (client === undefined) continue;
      client.on('error', () => {});
      client.disconnect();
    }
  }
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

function resolve(options: RedisEngineOptions, timeoutMs: number, log: Log): Resolved {
  const given = [options.url !== undefined, options.publisher !== undefined || options.subscriber !== undefined, options.pubsub !== undefined];
  if (given.filter(Boolean).length > 1) throw new TypeError('redisEngine: give one of url, publisher+subscriber, or pubsub');
  if (options.pubsub !== undefined) {
    const withClients = options.pubsub as Partial<Pick<RedisPubSubInstance, 'getPublisher' | 'getSubscriber'>>;
    return {
      pubsub: options.pubsub instanceof RedisPubSub ? redisBroker(options.pubsub, log) : options.pubsub,
      publisher: withClients.getPublisher?.(),
      subscriber: withClients.getSubscriber?.(),
      owned: false,
      release: undefined,
    };
  }
  let publisher: RedisClient;
  let subscriber: RedisClient;
  const owned = options.publisher === undefined;
  if (options.publisher !== undefined || options.subscriber !== undefined) {
    if (options.publisher === undefined || options.subscriber === undefined) {
      throw new TypeError('redisEngine: give both publisher and subscriber');
    }
    if (options.publisher === options.subscriber) {
      throw new TypeError('redisEngine: publisher and subscriber must be two connections (a subscribed connection cannot publish)');
    }
    publisher = options.publisher;
    subscriber = options.subscriber;
  } else {
    const url = options.url ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
    const base: RedisOptions = { ...options.redisOptions, lazyConnect: true };
    // A publish sent but unanswered when the connection drops may have been appended (the script ran, the reply was lost):
    // never send it again (that would append it twice, with two ids); it fails, and "failed" means "maybe published" (PROTOCOL §4).
    // Every command on the publisher fails after timeoutMs (a stalled Redis): a publish then is "maybe published" too.
    const commandTimeout = timeoutMs === Infinity ? undefined : timeoutMs;
    publisher = new Redis(url, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, commandTimeout });
    // Not the subscriber: after a reconnect ioredis resubscribes without handling the promise, and a command
    // timeout there would be an unhandled rejection. The engine bounds its own waits on it (check, publish gates).
    const subscriberBase: RedisOptions = { ...base };
    delete subscriberBase.commandTimeout;
    subscriber = new Redis(url, { ...subscriberBase, autoResubscribe: true, enableOfflineQueue: true, maxRetriesPerRequest: null });
  }
  const subscribing = subscriberFor(subscriber, log);
  const pubsub = new RedisPubSub({
    // RedisPubSub opens connections of its own unless given both; the engine publishes through publisherFor, not RedisPubSub.publish.
    publisher,
    subscriber: subscribing.subscriber,
    // The bridge parses messages itself: strings out.
    deserializer: (source: string | Buffer) => (typeof source === 'string' ? source : source.toString('utf8')),
  });
  return { pubsub: redisBroker(pubsub, log, publisherFor(publisher)), publisher, subscriber, owned, release: subscribing.release };
}

/**
 * Creates the Redis engine.
 * @example
 * ```ts
 * // From a URL (or REDIS_URL when omitted):
 * const pubsub = createPubSub({ topics, engine: redisEngine({ url: 'redis://127.0.0.1:6379' }) });
 * // From your clients, a Redis Cluster included (two clients, yours to close):
 * const nodes = [{ host: '10.0.0.1', port: 7000 }];
 * const engine = redisEngine({ publisher: new Cluster(nodes), subscriber: new Cluster(nodes) });
 * ```
 */
export function redisEngine(options: RedisEngineOptions = {}): RedisEngine {
  return new RedisEngine(options);
}
