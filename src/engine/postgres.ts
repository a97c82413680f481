/**
 * The PostgreSQL engine: several trpc-pubsub instances share events through
 * PostgreSQL `LISTEN`/`NOTIFY`, on `pg` (an optional peer dependency).
 * @module
 */
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { pg } from './postgres-peer.js';
import type { BridgeCodec } from './bridge-message.js';
import { BridgeEngine, DEFAULT_PREFIX, type BrokerLink, type BrokerLinkEvents } from './bridge.js';
import { commandTimeout } from './deadline.js';
import { PostgresHistory } from './postgres-history.js';
import { PostgresPresence } from './postgres-presence.js';
import { isPostgresTimeout, PostgresPubSub } from './postgres-pubsub.js';

export { isPostgresTimeout, PostgresPubSub } from './postgres-pubsub.js';
export { PostgresPresence } from './postgres-presence.js';
export type { PostgresPubSubOptions } from './postgres-pubsub.js';

/** PostgreSQL's largest `NOTIFY` payload is 8000 bytes, less one. */
export const POSTGRES_MAX_NOTIFY_BYTES = 7999;
/** PostgreSQL identifiers, channel names included, hold at most 63 bytes. */
const MAX_CHANNEL_BYTES = 63;

/** Options of {@link postgresEngine}: a `connectionString`, or your `pool`. */
export interface PostgresEngineOptions {
  /**
   * `postgres://user@host:port/db`; the engine opens a small pool for
   * `NOTIFY` and one listening connection, and closes them.
   * @default process.env.DATABASE_URL
   */
  connectionString?: string;
  /**
   * Your pool: notifications go through it, and one of its connections is
   * held for `LISTEN` (unless `connectionString` is given too, which the
   * listening connection then uses). Yours to close.
   */
  pool?: Pool;
  /** Channel-name prefix, so that apps can share a database. @default 'trpc-pubsub' */
  channelPrefix?: string;
  /** Serializes bridge messages. @default JSON */
  codec?: BridgeCodec;
  /** Reconnect backoff of the listening connection, in ms. @default { min: 100, max: 2000 } */
  reconnectDelayMs?: { min: number; max: number };
  /**
   * Keep the history of topics with a `history` policy in PostgreSQL (tables
   * `trpc_pubsub_topics`, `trpc_pubsub_channels`, `trpc_pubsub_events`,
   * created if missing), for resume on any instance; `false` keeps none.
   * @default true
   */
  history?: boolean;
  /**
   * Longest one broker call waits for PostgreSQL, in ms: a publish (then
   * `SERVICE_UNAVAILABLE`, "maybe published"), a history read (retried,
   * then `SERVICE_UNAVAILABLE`), a `check()` `SELECT 1` (then `degraded`).
   * The pool and listening connection made from `connectionString` also
   * get it as `pg`'s `query_timeout` and `connectionTimeoutMillis` and as
   * PostgreSQL's `statement_timeout`, so a stalled connection is dropped
   * and a blocked statement cancelled. Your own `pool` keeps its options:
   * give it `query_timeout` yourself. `Infinity` for none.
   * @default DEFAULT_COMMAND_TIMEOUT_MS (5000)
   */
  commandTimeoutMs?: number;
}

/**
 * The PostgreSQL engine. One notification channel per topic,
 * `<prefix>:<topic>` (names over 63 bytes are shortened with a hash),
 * `LISTEN`ed while the instance has a local subscriber of the topic and
 * `UNLISTEN`ed with the last. Events are delivered when PostgreSQL hands
 * them back, in commit order, the same on every instance. A serialized
 * event must fit PostgreSQL's 8000-byte `NOTIFY` payload, else its publish
 * fails with `PAYLOAD_TOO_LARGE`. While the listening connection is down,
 * `health()` is `degraded` and publishes fail; it reconnects and listens
 * again by itself. While PostgreSQL stalls (up, but not answering),
 * publishes fail after `commandTimeoutMs`, and `check()` (`SELECT 1` on the
 * pool and on the listening connection) reports `degraded`.
 */
export class PostgresEngine extends BridgeEngine {
  /** The pub/sub over `pg` this engine bridges. */
  readonly broker: PostgresPubSub;

  constructor(options: PostgresEngineOptions = {}) {
    const connectionString = options.connectionString ?? (options.pool === undefined ? process.env['DATABASE_URL'] : undefined);
    if (options.pool === undefined && connectionString === undefined) {
      throw new TypeError('postgresEngine: give a connectionString or a pool (or set DATABASE_URL)');
    }
    const timeoutMs = commandTimeout('postgresEngine', options.commandTimeoutMs);
    const timeouts =
      timeoutMs === Infinity ? { connectionTimeoutMillis: 5000 } : { connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, statement_timeout: timeoutMs };
    const ownedPool = options.pool === undefined ? new pg.Pool({ connectionString, max: 4, keepAlive: true, ...timeouts }) : undefined;
    const pool = options.pool ?? ownedPool!;
    const broker = new PostgresPubSub({
      pool,
      connectionString,
      reconnectDelayMs: options.reconnectDelayMs,
      commandTimeoutMs: timeoutMs,
    });
    let log: BrokerLinkEvents['log'] = () => {};
    const link: BrokerLink = {
      connect: (events) => {
        log = events.log;
        return broker.start(
          events.log,
          () => {
            events.lost();
            events.listenerLost();
          },
          () => events.restored(),
        );
      },
      health: () => broker.health(),
      check: (within) => broker.check(within),
      isTimeout: isPostgresTimeout,
      disconnect: async () => {
        await broker.close();
        await ownedPool?.end();
      },
    };
    super(broker, {
      name: 'postgres',
      prefix: options.channelPrefix ?? DEFAULT_PREFIX,
      codec: options.codec,
      maxMessageBytes: POSTGRES_MAX_NOTIFY_BYTES,
      commandTimeoutMs: timeoutMs,
      channelName: postgresChannelName,
      link,
      // History in three tables (created if missing), appended and notified in one transaction.
      history: options.history === false ? undefined : (deps) => new PostgresHistory(pool, deps),
      // Presence in one table, each change written and notified in one statement (`~` is in no topic name: no topic's channel).
      presence: new PostgresPresence(pool, { prefix: options.channelPrefix ?? DEFAULT_PREFIX, notifyChannel: postgresChannelName(options.channelPrefix ?? DEFAULT_PREFIX, '~presence') }),
    });
    this.broker = broker;
    ownedPool?.on('error', (error: Error) => log('debug', 'idle postgres connection failed', { error: error.message }));
  }
}

/**
 * The notification channel of `topic`: `<prefix>:<topic>`, or, past 63
 * bytes, its first bytes and `~` with 8 hex digits of its SHA-1.
 */
function postgresChannelName(prefix: string, topic: string): string {
  const name = `${prefix}:${topic}`;
  if (Buffer.byteLength(name) <= MAX_CHANNEL_BYTES) return name;
  const hash = createHash('sha1').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_CHANNEL_BYTES - 9)}~${hash}`;
}

/**
 * Creates the PostgreSQL engine.
 * @example
 * ```ts
 * import { postgresEngine } from 'trpc-pubsub/postgres';
 * const pubsub = createPubSub({ topics, engine: postgresEngine({ connectionString: process.env.DATABASE_URL }) });
 * ```
 */
export function postgresEngine(options: PostgresEngineOptions = {}): PostgresEngine {
  return new PostgresEngine(options);
}
