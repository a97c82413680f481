/**
 * History on Redis Streams. Per channel a stream, and per topic a hash
 * holding the history's epoch, the topic's position counter, each
 * channel's last position and how far its trimming reached. One Lua script
 * appends, trims (count and age) and publishes, so the history order and
 * the live order are one; every key of a topic shares its hash tag
 * (`{<topic>}`) with the topic's Pub/Sub channel, so on a Cluster it all
 * lives on one master.
 *
 * Ids are `<epoch>:<position>`: the epoch is drawn once per topic history
 * (a flushed or reset Redis draws a new one, so old ids are recognised as
 * foreign), the position is the topic's counter (so one cursor orders all
 * of a topic's channels). A topic with `maxAgeMs` lets an idle channel's
 * stream expire after that long (a resume from before then is `expired`).
 * @module
 */
import type { Cluster, Redis } from 'ioredis';
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
import { channelName, randomEpoch, type HistoryPolicy, type HistoryRead, type PubSubEvent, type SubscriptionScope } from './engine.js';

/** The command the engine defines on its publisher (versioned, so other copies never share the name). */
const APPEND_COMMAND = 'trpcPubsubAppendV1';

/**
 * KEYS: stream, topic hash. ARGV: Pub/Sub channel, message (id = placeholder),
 * placeholder, maxEvents, maxAgeMs (0: none), now (ms), candidate epoch, channel name.
 */
const APPEND_SCRIPT = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[7]
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local n = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('XADD', KEYS[1], n .. '-0', 'm', ARGV[2], 't', ARGV[6])
redis.call('HSET', KEYS[2], 'last:' .. ARGV[8], n)
local trimmed = nil
local over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over)
  trimmed = tonumber(string.match(old[#old][1], '^(%d+)'))
end
local maxAge = tonumber(ARGV[5])
if maxAge > 0 then
  local cutoff = tonumber(ARGV[6]) - maxAge
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 64)
  for _, entry in ipairs(old) do
    if tonumber(entry[2][4]) >= cutoff then break end
    local position = tonumber(string.match(entry[1], '^(%d+)'))
    if trimmed == nil or position > trimmed then trimmed = position end
  end
end
if maxAge > 0 then redis.call('PEXPIRE', KEYS[1], maxAge) end
if trimmed ~= nil then
  redis.call('XTRIM', KEYS[1], 'MINID', (trimmed + 1) .. '-0')
  local before = tonumber(redis.call('HGET', KEYS[2], 'trim:' .. ARGV[8]) or '0')
  if trimmed > before then redis.call('HSET', KEYS[2], 'trim:' .. ARGV[8], trimmed) end
end
local id = epoch .. ':' .. n
local i, j = string.find(ARGV[2], ARGV[3], 1, true)
redis.call('PUBLISH', ARGV[1], string.sub(ARGV[2], 1, i - 1) .. id .. string.sub(ARGV[2], j + 1))
return id
`;

type Append = (stream: string, hash: string, ...args: string[]) => Promise<string>;

/** One channel's kept events, as read. */
interface ChannelRead {
  readonly events: Positioned[];
  /** The newest position dropped from the channel by trimming (0: none). */
  readonly trimmed: number;
}

/** Options of {@link RedisHistory}. */
export interface RedisHistoryOptions {
  /** The key prefix (the engine's channel prefix). */
  prefix: string;
  /** How bridge messages are encoded. */
  codec: BridgeCodec;
  /** The topic's history policy (for the age bound on reads). */
  policyOf: (topic: string) => HistoryPolicy | undefined;
  /** Clock. @default Date.now */
  now?: () => number;
}

/** History on Redis Streams (see the module comment). */
export class RedisHistory implements BrokerHistory {
  readonly #client: Redis | Cluster;
  readonly #append: Append;
  readonly #options: RedisHistoryOptions;
  readonly #now: () => number;

  constructor(client: Redis | Cluster, options: RedisHistoryOptions) {
    this.#client = client;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const scripted = client as (Redis | Cluster) & Partial<Record<typeof APPEND_COMMAND, Append>>;
    if (typeof scripted[APPEND_COMMAND] !== 'function') scripted.defineCommand(APPEND_COMMAND, { numberOfKeys: 2, lua: APPEND_SCRIPT });
    const append = scripted[APPEND_COMMAND];
    if (append === undefined) throw new Error(`ioredis defineCommand did not define ${APPEND_COMMAND}`);
    this.#append = (...args) => append.apply(client, args);
  }

  /** The stream key of `channel` (of `topic`). */
  streamOf(topic: string, channel: string): string {
    return `${this.#options.prefix}:{${topic}}:s:${channel}`;
  }

  /** The hash key of `topic`'s history. */
  hashOf(topic: string): string {
    return `${this.#options.prefix}:{${topic}}:h`;
  }

  append(brokerChannel: string, event: PubSubEvent, channel: string, text: string, policy: HistoryPolicy): Promise<string> {
    return this.#append(
      this.streamOf(event.topic, channel),
      this.hashOf(event.topic),
      brokerChannel,
      text,
      ID_PLACEHOLDER,
      String(policy.maxEvents),
      String(policy.maxAgeMs ?? 0),
      String(event.ts),
      randomEpoch(),
      channel,
    );
  }

  async since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead> {
    const topic = historyTopic(scope, 'redis');
    const meta = await this.#meta(topic);
    const epoch = meta['epoch'];
    const head = epoch === undefined ? undefined : `${epoch}:${meta['seq'] ?? '0'}`;
    const position = epoch === undefined ? undefined : cursorPosition(cursor, epoch, Number(meta['seq'] ?? 0));
    if (epoch === undefined || position === undefined) return { ok: false, reason: 'unknown', cursor: head };
    const found: Positioned[] = [];
    for (const channel of this.#channelsOf(scope, meta)) {
      const read = await this.#read(topic, channel, epoch, `${position + 1}-0`, undefined);
      const lastKnown = Number(meta[`last:${channel}`] ?? 0);
      // Trimmed past the cursor, or the channel had newer events than the cursor and its newest is not kept (an idle stream expired).
      if (position < read.trimmed || (lastKnown > position && !read.events.some((e) => e.position === lastKnown))) {
        return { ok: false, reason: 'expired', cursor: head };
      }
      found.push(...read.events);
    }
    return mergedRead(found, head);
  }

  async latest(scope: SubscriptionScope, n: number): Promise<HistoryRead> {
    const topic = historyTopic(scope, 'redis');
    const meta = await this.#meta(topic);
    const epoch = meta['epoch'];
    if (epoch === undefined) return { ok: true, events: [], cursor: undefined };
    const found: Positioned[] = [];
    for (const channel of this.#channelsOf(scope, meta)) found.push(...(await this.#read(topic, channel, epoch, '-', n)).events);
    return mergedRead(found, `${epoch}:${meta['seq'] ?? '0'}`, n);
  }

  /**
   * The topic's hash. A history never written to gets its epoch now, so
   * that its head (`<epoch>:0`) is a cursor a later resume can start from
   * (an all-topics subscription holds one for every topic).
   */
  async #meta(topic: string): Promise<Record<string, string>> {
    const hash = this.hashOf(topic);
    const meta = await this.#client.hgetall(hash);
    if (meta['epoch'] !== undefined) return meta;
    await this.#client.hsetnx(hash, 'epoch', randomEpoch());
    return this.#client.hgetall(hash);
  }

  #channelsOf(scope: SubscriptionScope, meta: Record<string, string>): string[] {
    if (scope.kind === 'channel') return [channelName(scope.topic, scope.key)];
    return Object.keys(meta)
      .filter((field) => field.startsWith('last:'))
      .map((field) => field.slice('last:'.length));
  }

  /** A channel's kept events from `start` (or the newest `count`), oldest first, with the age bound applied. */
  async #read(topic: string, channel: string, epoch: string, start: string, count: number | undefined): Promise<ChannelRead> {
    const stream = this.streamOf(topic, channel);
    const [entries, trim] = await Promise.all([
      count === undefined ? this.#client.xrange(stream, start, '+') : this.#client.xrevrange(stream, '+', '-', 'COUNT', count).then((e) => e.reverse()),
      this.#client.hget(this.hashOf(topic), `trim:${channel}`),
    ]);
    const cutoff = ageCutoff(this.#options.policyOf(topic), this.#now());
    let trimmed = Number(trim ?? 0);
    const events: Positioned[] = [];
    for (const [entryId, fields] of entries) {
      const position = Number(entryId.slice(0, entryId.indexOf('-')));
      if (Number(fields[3]) < cutoff) {
        trimmed = Math.max(trimmed, position);
        continue;
      }
      const stored = decodeStored(fields[1] ?? '', epoch, position, this.#options.codec);
      if (stored !== undefined) events.push(stored);
    }
    return { events, trimmed };
  }
}
