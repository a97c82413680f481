/**
 * Presence on PostgreSQL, shared by every instance: one table of members
 * (`trpc_pubsub_presence`, created if missing) with their expiry time, and
 * one `NOTIFY` channel per prefix that announces every join and leave.
 * Each change is one statement that writes the row and notifies, so a join
 * or a leave is stored and announced in one transaction; reading a
 * channel's members first deletes the expired ones (a killed instance's)
 * and announces their leave.
 * @module
 */
import type { Pool } from 'pg';
import type { BrokerPubSub } from './broker-link.js';
import { createSchema } from './postgres-schema.js';
import type { EnginePresence, PresenceChange, PresenceMember } from './engine.js';
import { oldestFirst, parseJson, parseMember } from './presence-member.js';

const SCHEMA = `
SELECT pg_advisory_xact_lock(hashtext('trpc_pubsub_schema'));
CREATE TABLE IF NOT EXISTS trpc_pubsub_presence (prefix text NOT NULL, channel text NOT NULL, id text NOT NULL, member text NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (prefix, channel, id));
`;

/** What a started {@link PostgresPresence} is handed by its engine. */
export interface PostgresPresenceDeps {
  announce(change: PresenceChange): void;
  subscribe: BrokerPubSub['subscribe'];
  unsubscribe: BrokerPubSub['unsubscribe'];
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

/** Presence on PostgreSQL (see the module comment). */
export class PostgresPresence implements EnginePresence {
  readonly #pool: Pool;
  readonly #prefix: string;
  /** The `NOTIFY` channel of every presence announcement of this prefix. */
  readonly #notifyChannel: string;
  readonly #now: () => number;
  /** Channels watched here, with how many watch each. */
  readonly #watched = new Map<string, number>();
  /** The `LISTEN` on {@link #notifyChannel}, while some channel is watched. */
  #listening: Promise<number> | undefined;
  #schema: Promise<void> | undefined;
  #deps: PostgresPresenceDeps | undefined;

  /** @param options.notifyChannel a PostgreSQL channel name (≤ 63 bytes) no topic's channel uses */
  constructor(pool: Pool, options: { prefix: string; notifyChannel: string; now?: () => number }) {
    this.#pool = pool;
    this.#prefix = options.prefix;
    this.#notifyChannel = options.notifyChannel;
    this.#now = options.now ?? Date.now;
  }

  /** Called by the engine as it starts. */
  start(deps: PostgresPresenceDeps): void {
    this.#deps = deps;
  }

  async join(channel: string, member: PresenceMember, ttlMs: number): Promise<void> {
    await this.#ensureSchema();
    const text = JSON.stringify(member);
    await this.#pool.query(
      `WITH up AS (
         INSERT INTO trpc_pubsub_presence (prefix, channel, id, member, expires_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (prefix, channel, id) DO UPDATE SET member = excluded.member, expires_at = excluded.expires_at
         RETURNING (xmax = 0) AS inserted
       )
       SELECT pg_notify($6, $7) FROM up WHERE inserted`,
      [this.#prefix, channel, member.id, text, this.#now() + ttlMs, this.#notifyChannel, announcement(channel, 'join', text)],
    );
  }

  async leave(channel: string, member: PresenceMember): Promise<void> {
    await this.#ensureSchema();
    await this.#pool.query(
      `WITH gone AS (DELETE FROM trpc_pubsub_presence WHERE prefix = $1 AND channel = $2 AND id = $3 RETURNING member)
       SELECT pg_notify($4, $5) FROM gone`,
      [this.#prefix, channel, member.id, this.#notifyChannel, announcement(channel, 'leave', JSON.stringify(member))],
    );
  }

  async refresh(channel: string, members: readonly PresenceMember[], ttlMs: number): Promise<void> {
    if (members.length === 0) return;
    await this.#ensureSchema();
    await this.#pool.query(
      `INSERT INTO trpc_pubsub_presence (prefix, channel, id, member, expires_at)
       SELECT $1, $2, id, member, $5 FROM unnest($3::text[], $4::text[]) AS m(id, member)
       ON CONFLICT (prefix, channel, id) DO UPDATE SET member = excluded.member, expires_at = excluded.expires_at`,
      [this.#prefix, channel, members.map((m) => m.id), members.map((m) => JSON.stringify(m)), this.#now() + ttlMs],
    );
  }

  async members(channel: string): Promise<PresenceMember[]> {
    await this.#ensureSchema();
    const now = this.#now();
    // The expired leave, announced (one notification each), then the rest are read.
    await this.#pool.query(
      `WITH gone AS (DELETE FROM trpc_pubsub_presence WHERE prefix = $1 AND channel = $2 AND expires_at <= $3 RETURNING member)
       SELECT pg_notify($4, '{"channel":' || to_json($2::text)::text || ',"kind":"leave","member":' || member || '}') FROM gone`,
      [this.#prefix, channel, now, this.#notifyChannel],
    );
    const { rows } = await this.#pool.query<{ member: string }>(
      `SELECT member FROM trpc_pubsub_presence WHERE prefix = $1 AND channel = $2 AND expires_at > $3`,
      [this.#prefix, channel, now],
    );
    const members: PresenceMember[] = [];
    for (const row of rows) {
      const member = parseMember(parseJson(row.member));
      if (member !== undefined) members.push(member);
    }
    return oldestFirst(members);
  }

  async watch(channel: string): Promise<void> {
    const deps = this.#deps;
    if (deps === undefined) throw new Error('postgres presence is not started');
    this.#watched.set(channel, (this.#watched.get(channel) ?? 0) + 1);
    const listening = (this.#listening ??= deps.subscribe(this.#notifyChannel, (message) => this.#receive(message)));
    try {
      await listening;
    } catch (error) {
      if (this.#listening === listening) this.#listening = undefined;
      this.#release(channel);
      throw error;
    }
  }

  async unwatch(channel: string): Promise<void> {
    this.#release(channel);
    if (this.#watched.size > 0 || this.#listening === undefined) return;
    const listening = this.#listening;
    this.#listening = undefined;
    const id = await listening.catch(() => undefined);
    if (id !== undefined) await this.#deps?.unsubscribe(id);
  }

  /** Ends the `LISTEN` (the engine closes). */
  async close(): Promise<void> {
    this.#watched.clear();
    const listening = this.#listening;
    this.#listening = undefined;
    const id = await listening?.catch(() => undefined);
    if (id !== undefined) await Promise.resolve(this.#deps?.unsubscribe(id)).catch(() => undefined);
    this.#deps = undefined;
  }

  #release(channel: string): void {
    const count = (this.#watched.get(channel) ?? 0) - 1;
    if (count > 0) this.#watched.set(channel, count);
    else this.#watched.delete(channel);
  }

  #receive(message: unknown): void {
    const parsed = parseJson(typeof message === 'string' ? message : String(message)) as { channel?: unknown; kind?: unknown; member?: unknown } | undefined;
    const member = parseMember(parsed?.member);
    const { channel, kind } = parsed ?? {};
    if (member === undefined || typeof channel !== 'string' || (kind !== 'join' && kind !== 'leave')) {
      this.#deps?.log('warn', 'malformed presence notification dropped', {});
      return;
    }
    if (this.#watched.has(channel)) this.#deps?.announce({ kind, channel, member });
  }

  #ensureSchema(): Promise<void> {
    this.#schema ??= createSchema(this.#pool, SCHEMA).catch((error: unknown) => {
      this.#schema = undefined;
      throw error;
    });
    return this.#schema;
  }
}

/** The notification of a join or a leave (`member` already JSON). */
function announcement(channel: string, kind: 'join' | 'leave', member: string): string {
  return `{"channel":${JSON.stringify(channel)},"kind":"${kind}","member":${member}}`;
}
