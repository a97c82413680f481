/**
 * History in PostgreSQL: three tables (created if missing) hold each
 * topic's epoch and position counter, each channel's last position and how
 * far trimming reached, and the events. One transaction takes the topic's
 * next position (its row lock orders the topic's publishes), inserts the
 * event, trims by count and age, and `NOTIFY`s the message with its id in
 * place: the history order and the live (commit) order are one.
 * @module
 */
import type { Pool, PoolClient } from 'pg';
import {
  ageCutoff,
  cursorPosition,
  decodeStored,
  historyTopic,
  ID_PLACEHOLDER,
  mergedRead,
  type BrokerHistory,
  type Positioned,
} from './broker-history.js';
import type { BridgeCodec } from './bridge-message.js';
import type { Deadline } from './deadline.js';
import { createSchema, rollBack } from './postgres-schema.js';
import { channelName, randomEpoch, type HistoryPolicy, type HistoryRead, type PubSubEvent, type SubscriptionScope } from './engine.js';

const SCHEMA = `
SELECT pg_advisory_xact_lock(hashtext('trpc_pubsub_schema'));
CREATE TABLE IF NOT EXISTS trpc_pubsub_topics (prefix text NOT NULL, topic text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (prefix, topic));
CREATE TABLE IF NOT EXISTS trpc_pubsub_channels (prefix text NOT NULL, topic text NOT NULL, channel text NOT NULL, last bigint NOT NULL, trimmed bigint NOT NULL DEFAULT 0, PRIMARY KEY (prefix, topic, channel));
CREATE TABLE IF NOT EXISTS trpc_pubsub_events (prefix text NOT NULL, topic text NOT NULL, channel text NOT NULL, position bigint NOT NULL, ts bigint NOT NULL, message text NOT NULL, PRIMARY KEY (prefix, topic, channel, position));
ALTER TABLE trpc_pubsub_topics ADD COLUMN IF NOT EXISTS pruned bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS trpc_pubsub_events_age ON trpc_pubsub_events (prefix, topic, ts);
`;

/** Most expired events of other channels one publish deletes (the rest go with the next publishes). */
const PRUNE_BATCH = 500;

/** Options of {@link PostgresHistory}. */
export interface PostgresHistoryOptions {
  /** The engine's channel prefix (a column of every table). */
  prefix: string;
  codec: BridgeCodec;
  policyOf: (topic: string) => HistoryPolicy | undefined;
  now?: () => number;
}

interface Row {
  position: string;
  ts: string;
  message: string;
}

/** History in PostgreSQL (see the module comment). */
export class PostgresHistory implements BrokerHistory {
  readonly #pool: Pool;
  readonly #options: PostgresHistoryOptions;
  readonly #now: () => number;
  #schema: Promise<void> | undefined;
  /** Per topic: the last append in flight, so that one instance's appends keep the order they were called in. */
  readonly #tails = new Map<string, Promise<unknown>>();

  constructor(pool: Pool, options: PostgresHistoryOptions) {
    this.#pool = pool;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  append(brokerChannel: string, event: PubSubEvent, channel: string, text: string, policy: HistoryPolicy, deadline?: Deadline): Promise<string> {
    const previous = this.#tails.get(event.topic) ?? Promise.resolve();
    const appended = previous.then(() => {
      if (deadline?.expired === true) throw new Error('postgres append expired while waiting for its turn');
      return this.#append(brokerChannel, event, channel, text, policy);
    });
    const tail = appended.catch(() => undefined);
    this.#tails.set(event.topic, tail);
    void tail.then(() => {
      if (this.#tails.get(event.topic) === tail) this.#tails.delete(event.topic);
    });
    return appended;
  }

  async #append(brokerChannel: string, event: PubSubEvent, channel: string, text: string, policy: HistoryPolicy): Promise<string> {
    await this.#ensureSchema();
    const { prefix } = this.#options;
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const topic = await client.query<{ epoch: string; seq: string }>(
        `INSERT INTO trpc_pubsub_topics (prefix, topic, epoch, seq) VALUES ($1, $2, $3, 1)
         ON CONFLICT (prefix, topic) DO UPDATE SET seq = trpc_pubsub_topics.seq + 1 RETURNING epoch, seq`,
        [prefix, event.topic, randomEpoch()],
      );
      const { epoch, seq } = topic.rows[0]!;
      await client.query('INSERT INTO trpc_pubsub_events (prefix, topic, channel, position, ts, message) VALUES ($1, $2, $3, $4, $5, $6)', [
        prefix,
        event.topic,
        channel,
        seq,
        event.ts,
        text,
      ]);
      await client.query(
        `INSERT INTO trpc_pubsub_channels (prefix, topic, channel, last) VALUES ($1, $2, $3, $4)
         ON CONFLICT (prefix, topic, channel) DO UPDATE SET last = EXCLUDED.last`,
        [prefix, event.topic, channel, seq],
      );
      const cutoff = policy.maxAgeMs === undefined ? null : event.ts - policy.maxAgeMs;
      await client.query(
        `WITH keep AS (
           SELECT position FROM trpc_pubsub_events WHERE prefix = $1 AND topic = $2 AND channel = $3
           ORDER BY position DESC OFFSET $4 - 1 LIMIT 1
         ), doomed AS (
           DELETE FROM trpc_pubsub_events WHERE prefix = $1 AND topic = $2 AND channel = $3
             AND (position < COALESCE((SELECT position FROM keep), 0) OR ($5::bigint IS NOT NULL AND ts < $5::bigint))
           RETURNING position
         )
         UPDATE trpc_pubsub_channels SET trimmed = GREATEST(trimmed, (SELECT max(position) FROM doomed))
         WHERE prefix = $1 AND topic = $2 AND channel = $3 AND (SELECT max(position) FROM doomed) IS NOT NULL`,
        [prefix, event.topic, channel, policy.maxEvents, cutoff],
      );
      if (cutoff !== null) await this.#pruneIdle(client, event.topic, cutoff);
      const id = `${epoch}:${seq}`;
      await client.query('SELECT pg_notify($1, replace($2, $3, $4))', [brokerChannel, text, ID_PLACEHOLDER, id]);
      await client.query('COMMIT');
      return id;
    } catch (error) {
      broken = await rollBack(client, error);
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * A topic with `maxAgeMs`: events of its other channels that aged out go
   * too (a bounded batch per publish), so that idle channels do not stay
   * forever; a channel left with no event is forgotten, and the topic
   * remembers the newest position it held (`pruned`), so that a resume
   * from before it is `expired`, never an empty replay.
   */
  async #pruneIdle(client: PoolClient, topic: string, cutoff: number): Promise<void> {
    const { prefix } = this.#options;
    const trimmed = await client.query(
      `WITH doomed AS (
         DELETE FROM trpc_pubsub_events WHERE ctid IN (
           SELECT ctid FROM trpc_pubsub_events WHERE prefix = $1 AND topic = $2 AND ts < $3 LIMIT ${PRUNE_BATCH}
         ) RETURNING channel, position
       ), upto AS (SELECT channel, max(position) AS position FROM doomed GROUP BY channel)
       UPDATE trpc_pubsub_channels c SET trimmed = GREATEST(c.trimmed, upto.position)
       FROM upto WHERE c.prefix = $1 AND c.topic = $2 AND c.channel = upto.channel
       RETURNING c.channel`,
      [prefix, topic, cutoff],
    );
    if (trimmed.rowCount === 0) return;
    await client.query(
      `WITH gone AS (
         DELETE FROM trpc_pubsub_channels WHERE prefix = $1 AND topic = $2 AND channel = ANY($3::text[]) AND last <= trimmed RETURNING last
       )
       UPDATE trpc_pubsub_topics SET pruned = GREATEST(pruned, (SELECT max(last) FROM gone))
       WHERE prefix = $1 AND topic = $2 AND (SELECT max(last) FROM gone) IS NOT NULL`,
      [prefix, topic, trimmed.rows.map((row: { channel: string }) => row.channel)],
    );
  }

  async since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead> {
    const topic = historyTopic(scope, 'postgres');
    const meta = await this.#meta(topic);
    const head = meta === undefined ? undefined : `${meta.epoch}:${meta.seq}`;
    const position = meta === undefined ? undefined : cursorPosition(cursor, meta.epoch, meta.seq);
    if (meta === undefined || position === undefined) return { ok: false, reason: 'unknown', cursor: head };
    const cutoff = ageCutoff(this.#options.policyOf(topic), this.#now());
    const found: Positioned[] = [];
    const channels = await this.#channels(scope, topic);
    // A channel forgotten after it aged out held events up to `pruned`: from before then, what it held is gone.
    if (position < meta.pruned && (scope.kind === 'topic' || channels.length === 0)) return { ok: false, reason: 'expired', cursor: head };
    for (const { channel, trimmed } of channels) {
      let dropped = trimmed;
      for (const row of await this.#rows(topic, channel, `position > $4 ORDER BY position`, [position])) {
        if (Number(row.ts) < cutoff) dropped = Math.max(dropped, Number(row.position));
        else this.#collect(found, meta.epoch, row);
      }
      if (position < dropped) return { ok: false, reason: 'expired', cursor: head };
    }
    return mergedRead(found, head);
  }

  async latest(scope: SubscriptionScope, n: number): Promise<HistoryRead> {
    const topic = historyTopic(scope, 'postgres');
    const meta = await this.#meta(topic);
    if (meta === undefined) return { ok: true, events: [], cursor: undefined };
    const cutoff = ageCutoff(this.#options.policyOf(topic), this.#now());
    const found: Positioned[] = [];
    for (const { channel } of await this.#channels(scope, topic)) {
      const rows = await this.#rows(topic, channel, `ts >= $4 ORDER BY position DESC LIMIT $5`, [Number.isFinite(cutoff) ? cutoff : 0, n]);
      for (const row of rows) this.#collect(found, meta.epoch, row);
    }
    return mergedRead(found, `${meta.epoch}:${meta.seq}`, n);
  }

  #ensureSchema(): Promise<void> {
    this.#schema ??= createSchema(this.#pool, SCHEMA).catch((error: unknown) => {
      this.#schema = undefined;
      throw error;
    });
    return this.#schema;
  }

  async #meta(topic: string): Promise<{ epoch: string; seq: number; pruned: number } | undefined> {
    await this.#ensureSchema();
    // A history never written to gets its epoch now, so that its head (`<epoch>:0`) is a cursor a later resume can start from.
    const result = await this.#pool.query<{ epoch: string; seq: string; pruned: string }>(
      `WITH created AS (
         INSERT INTO trpc_pubsub_topics (prefix, topic, epoch, seq) VALUES ($1, $2, $3, 0) ON CONFLICT (prefix, topic) DO NOTHING RETURNING epoch, seq, pruned
       )
       SELECT epoch, seq, pruned FROM created UNION ALL SELECT epoch, seq, pruned FROM trpc_pubsub_topics WHERE prefix = $1 AND topic = $2`,
      [this.#options.prefix, topic, randomEpoch()],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { epoch: row.epoch, seq: Number(row.seq), pruned: Number(row.pruned) };
  }

  async #channels(scope: SubscriptionScope, topic: string): Promise<{ channel: string; trimmed: number }[]> {
    const single = scope.kind === 'channel' ? channelName(scope.topic, scope.key) : null;
    const result = await this.#pool.query<{ channel: string; trimmed: string }>(
      'SELECT channel, trimmed FROM trpc_pubsub_channels WHERE prefix = $1 AND topic = $2 AND ($3::text IS NULL OR channel = $3::text)',
      [this.#options.prefix, topic, single],
    );
    return result.rows.map((row) => ({ channel: row.channel, trimmed: Number(row.trimmed) }));
  }

  async #rows(topic: string, channel: string, where: string, params: unknown[]): Promise<Row[]> {
    const result = await this.#pool.query<Row>(
      `SELECT position, ts, message FROM trpc_pubsub_events WHERE prefix = $1 AND topic = $2 AND channel = $3 AND ${where}`,
      [this.#options.prefix, topic, channel, ...params],
    );
    return result.rows;
  }

  /** Adds the event a row holds to `found` (a row that cannot be decoded is skipped). */
  #collect(found: Positioned[], epoch: string, row: Row): void {
    const stored = decodeStored(row.message, epoch, Number(row.position), this.#options.codec);
    if (stored !== undefined) found.push(stored);
  }
}
