/**
 * Presence on Redis, shared by every instance: per channel, a hash of
 * members (id → JSON) and a sorted set of their expiry times, under one
 * hash tag (one Cluster slot). Each change is one Lua script that also
 * PUBLISHes it on the channel's presence channel, so a join or a leave is
 * stored and announced as one step; reading the members first removes the
 * expired ones (a killed instance's) and announces their leave.
 * @module
 */
import type { Cluster, Redis } from 'ioredis';
import type { BrokerPubSub } from './broker-link.js';
import type { EnginePresence, PresenceChange, PresenceMember } from './engine.js';
import { oldestFirst, parseJson, parseMember } from './presence-member.js';

const JOIN = 'trpcPubsubPresenceJoin';
const LEAVE = 'trpcPubsubPresenceLeave';
const REFRESH = 'trpcPubsubPresenceRefresh';
const MEMBERS = 'trpcPubsubPresenceMembers';

// KEYS: members hash, expiry zset. ARGV: id, member JSON, expires at, presence channel, announcement, key TTL ms.
const JOIN_SCRIPT = `
local added = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if added == 1 then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return added`;

// KEYS: members hash, expiry zset. ARGV: id, presence channel, announcement.
const LEAVE_SCRIPT = `
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return removed`;

// KEYS: members hash, expiry zset. ARGV: expires at, key TTL ms, then id, member JSON pairs. Adds back silently what was lost.
const REFRESH_SCRIPT = `
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;

// KEYS: members hash, expiry zset. ARGV: now, presence channel. Removes and announces the expired, then returns the rest.
const MEMBERS_SCRIPT = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(expired) do
  local member = redis.call('HGET', KEYS[1], id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  if member then redis.call('PUBLISH', ARGV[2], '{"kind":"leave","member":' .. member .. '}') end
end
return redis.call('HVALS', KEYS[1])`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

/** What a started {@link RedisPresence} is handed by its engine. */
export interface RedisPresenceDeps {
  /** Where announced changes go (the engine context's `presence`). */
  announce(change: PresenceChange): void;
  /** Subscribes the engine's subscribing connection to a channel. */
  subscribe: BrokerPubSub['subscribe'];
  unsubscribe: BrokerPubSub['unsubscribe'];
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

/** A watched channel: how many watch it, and its Redis subscription. */
interface Watch {
  count: number;
  readonly subscription: Promise<number>;
}

/** Presence on Redis (see the module comment). */
export class RedisPresence implements EnginePresence {
  readonly #client: Redis | Cluster;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #scripts: Record<typeof JOIN | typeof LEAVE | typeof REFRESH | typeof MEMBERS, Script>;
  readonly #watches = new Map<string, Watch>();
  #deps: RedisPresenceDeps | undefined;

  constructor(client: Redis | Cluster, options: { prefix: string; now?: () => number }) {
    this.#client = client;
    this.#prefix = options.prefix;
    this.#now = options.now ?? Date.now;
    const scripted = client as (Redis | Cluster) & Partial<Record<string, Script>>;
    const define = (name: string, lua: string): Script => {
      if (typeof scripted[name] !== 'function') scripted.defineCommand(name, { numberOfKeys: 2, lua });
      const command = scripted[name];
      if (command === undefined) throw new Error(`ioredis defineCommand did not define ${name}`);
      return (...args) => command.apply(client, args);
    };
    this.#scripts = {
      [JOIN]: define(JOIN, JOIN_SCRIPT),
      [LEAVE]: define(LEAVE, LEAVE_SCRIPT),
      [REFRESH]: define(REFRESH, REFRESH_SCRIPT),
      [MEMBERS]: define(MEMBERS, MEMBERS_SCRIPT),
    };
  }

  /** Called by the engine as it starts. */
  start(deps: RedisPresenceDeps): void {
    this.#deps = deps;
  }

  /** The members hash of `channel`. */
  membersKey(channel: string): string {
    return `${this.#prefix}:presence:{${channel}}:m`;
  }

  /** The expiry sorted set of `channel`. */
  expiryKey(channel: string): string {
    return `${this.#prefix}:presence:{${channel}}:e`;
  }

  /** The Redis channel `channel`'s joins and leaves are announced on. */
  announcementsOf(channel: string): string {
    return `${this.#prefix}:presence:{${channel}}`;
  }

  async join(channel: string, member: PresenceMember, ttlMs: number): Promise<void> {
    const text = JSON.stringify(member);
    await this.#scripts[JOIN](
      this.membersKey(channel),
      this.expiryKey(channel),
      member.id,
      text,
      this.#now() + ttlMs,
      this.announcementsOf(channel),
      `{"kind":"join","member":${text}}`,
      keyTtl(ttlMs),
    );
  }

  async leave(channel: string, member: PresenceMember): Promise<void> {
    await this.#scripts[LEAVE](
      this.membersKey(channel),
      this.expiryKey(channel),
      member.id,
      this.announcementsOf(channel),
      `{"kind":"leave","member":${JSON.stringify(member)}}`,
    );
  }

  async refresh(channel: string, members: readonly PresenceMember[], ttlMs: number): Promise<void> {
    if (members.length === 0) return;
    const pairs = members.flatMap((member) => [member.id, JSON.stringify(member)]);
    await this.#scripts[REFRESH](this.membersKey(channel), this.expiryKey(channel), this.#now() + ttlMs, keyTtl(ttlMs), ...pairs);
  }

  async members(channel: string): Promise<PresenceMember[]> {
    const raw = (await this.#scripts[MEMBERS](this.membersKey(channel), this.expiryKey(channel), this.#now(), this.announcementsOf(channel))) as string[];
    const members: PresenceMember[] = [];
    for (const text of raw) {
      const member = parseMember(parseJson(text));
      if (member !== undefined) members.push(member);
    }
    return oldestFirst(members);
  }

  async watch(channel: string): Promise<void> {
    const deps = this.#deps;
    if (deps === undefined) throw new Error('redis presence is not started');
    const watch = this.#watches.get(channel);
    if (watch !== undefined) {
      watch.count++;
      await watch.subscription;
      return;
    }
    const subscription = deps.subscribe(this.announcementsOf(channel), (message) => this.#receive(channel, message));
    this.#watches.set(channel, { count: 1, subscription });
    try {
      await subscription;
    } catch (error) {
      this.#watches.delete(channel);
      throw error;
    }
  }

  async unwatch(channel: string): Promise<void> {
    const watch = this.#watches.get(channel);
    if (watch === undefined || --watch.count > 0) return;
    this.#watches.delete(channel);
    const id = await watch.subscription.catch(() => undefined);
    if (id !== undefined) await this.#deps?.unsubscribe(id);
  }

  /** Ends every watch (the engine closes). */
  async close(): Promise<void> {
    const watches = [...this.#watches.values()];
    this.#watches.clear();
    await Promise.all(
      watches.map(async (watch) => {
        const id = await watch.subscription.catch(() => undefined);
        if (id !== undefined) await Promise.resolve(this.#deps?.unsubscribe(id)).catch(() => undefined);
      }),
    );
    this.#deps = undefined;
  }

  #receive(channel: string, message: unknown): void {
    const parsed = parseJson(typeof message === 'string' ? message : String(message)) as { kind?: unknown; member?: unknown } | undefined;
    const member = parseMember(parsed?.member);
    const kind = parsed?.kind;
    if (member === undefined || (kind !== 'join' && kind !== 'leave')) {
      this.#deps?.log('warn', 'malformed presence announcement dropped', { channel });
      return;
    }
    this.#deps?.announce({ kind, channel, member });
  }
}

/** How long a channel's keys outlive their last refresh (members expire on their own scores first). */
function keyTtl(ttlMs: number): number {
  return Math.ceil(ttlMs * 3);
}
