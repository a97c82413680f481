/**
 * Presence: who is subscribed to each channel of a topic that opted in,
 * across instances. This instance's members join and leave with their
 * subscriptions and are kept alive in the engine's store; watchers
 * (`<topic>.presence`) get the members, then every join and leave.
 *
 * Repair instead of trust: every third of the TTL, this instance refreshes
 * its own members (adding back any the store lost, a Redis restart) and
 * re-reads each channel it watches, telling watchers what the
 * announcements missed (a dropped subscriber connection) and the members
 * a killed instance left behind, once they expire.
 * @module
 */
import { TRPCError } from '@trpc/server';
import type * as z from 'zod/v4';
import type { ChannelKey, PresenceUpdate } from '../../client/protocol.js';
import type { Engine, EnginePresence, PresenceChange, PresenceMember } from '../engine/engine.js';
import { MemoryPresence } from '../engine/memory-presence.js';
import { EventQueue } from './event-queue.js';
import type { Logger } from './logger.js';
import { channelName } from './scope.js';
import type { Subscription } from './subscription.js';
import type { TopicValidator } from './validate.js';

/** What the pubsub's `presence.info` is asked. */
export interface PresenceInfoRequest<TContext = unknown> {
  /** The subscriber's tRPC context. */
  ctx: TContext;
  topic: string;
  /** The channel's key (`undefined` on a topic without keys). */
  key: ChannelKey | undefined;
}

/** Presence options of `createPubSub`. */
export interface PresenceOptions<TContext = unknown> {
  /**
   * Builds a member's public info from its context (a display name: never
   * the raw token), checked by the topic's `presence.info` schema. A member
   * whose info fails the schema (or whose builder throws) is not shown, and
   * an `error` is logged; its subscription still works.
   * @default () => ({})
   */
  info?: (request: PresenceInfoRequest<TContext>) => unknown;
  /**
   * How long a member stays listed without its instance refreshing it, in
   * ms: a killed instance's members disappear within this. Instances
   * refresh their members every third of it.
   * @default 30_000
   */
  ttlMs?: number;
}

/** Default of {@link PresenceOptions.ttlMs}. */
export const DEFAULT_PRESENCE_TTL_MS = 30_000;

/** What {@link Presence} is made from. */
export interface PresenceDeps {
  readonly engine: Engine;
  readonly topics: TopicValidator;
  readonly logger: Logger;
  readonly instanceId: string;
  readonly options: PresenceOptions<never> | undefined;
  readonly maxQueued: number;
  readonly now: () => number;
}

/** One of this instance's members: its channel, and its member once its info is built. */
interface LocalMember {
  readonly channel: string;
  member: PresenceMember | undefined;
  left: boolean;
  /** Its join while in flight: its leave goes after it (a pool may run two queries in either order). */
  joining: Promise<void> | undefined;
}

/** A channel this instance watches. */
interface Watched {
  /** Members as last known (announcements applied). */
  readonly known: Map<string, PresenceMember>;
  /** Whether `known` has been read from the store once (streams get the members then). */
  synced: boolean;
  /** Members an announcement touched since the last read began: a read's answer does not overrule them. */
  readonly touched: Set<string>;
  /** The `<topic>.presence` streams watching it. */
  readonly queues: Set<EventQueue<PresenceUpdate>>;
  /** Whether it was dropped (the last stream left, the first read failed, close). */
  dropped: boolean;
}

/** Presence of one instance (see the module comment). */
export class Presence {
  /** The engine's store, or this process's when the engine keeps none. */
  readonly store: EnginePresence;
  /** Whether the store is shared by every instance (the engine's own). */
  readonly shared: boolean;
  readonly ttlMs: number;
  readonly #deps: PresenceDeps;
  readonly #local = new Map<Subscription, LocalMember>();
  readonly #byChannel = new Map<string, Set<LocalMember>>();
  readonly #watched = new Map<string, Watched>();
  /** Leaves in flight. */
  readonly #leaving = new Set<Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #sequence = 0;
  #closed = false;

  constructor(deps: PresenceDeps) {
    this.#deps = deps;
    this.ttlMs = deps.options?.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    if (!(this.ttlMs >= 100) || !Number.isFinite(this.ttlMs)) throw new TypeError(`presence.ttlMs must be a finite number ≥ 100, got ${String(this.ttlMs)}`);
    this.shared = deps.engine.presence !== undefined;
    this.store = deps.engine.presence ?? new MemoryPresence((change) => this.changed(change));
  }

  /** Number of this instance's members (for tests and health). */
  get localMembers(): number {
    return this.#local.size;
  }

  /** Whether the refresh timer runs (it does while this instance has members or watches a channel). */
  get refreshing(): boolean {
    return this.#timer !== undefined;
  }

  /** Number of channels this instance watches. */
  get watchedChannels(): number {
    return this.#watched.size;
  }

  /**
   * `subscription` started: when it counts as a member (a tRPC subscription
   * to one channel of a topic with presence), it joins its channel once its
   * info is built and checked; any other subscription is left alone.
   */
  join(subscription: Subscription): void {
    const { scope } = subscription;
    if (this.#closed || scope.kind !== 'channel' || subscription.origin === 'server') return;
    const schema = this.#deps.topics.find(scope.topic)?.definition.presence?.info;
    if (schema === undefined) return;
    const local: LocalMember = { channel: channelName(scope.topic, scope.key), member: undefined, left: false, joining: undefined };
    this.#local.set(subscription, local);
    this.#schedule();
    const build = this.#deps.options?.info;
    const request = { ctx: subscription.ctx as never, topic: scope.topic, key: scope.key };
    void Promise.resolve()
      .then(() => (build === undefined ? {} : build(request)))
      .then((raw) => this.#admit(local, schema, raw, scope.topic))
      .catch((error: unknown) => this.#deps.logger.error('presence.info threw; the subscriber is not shown in presence', { topic: scope.topic, error: String(error) }));
  }

  /** `subscription` ended: it leaves its channel (nothing the second time). */
  leave(subscription: Subscription): void {
    const local = this.#local.get(subscription);
    if (local === undefined) return;
    this.#local.delete(subscription);
    local.left = true;
    const member = local.member;
    if (member !== undefined) {
      this.#forget(local);
      const leaving = (local.joining ?? Promise.resolve())
        .then(() => this.store.leave(local.channel, member))
        .catch((error: unknown) => this.#failed('leave', local.channel, error));
      // close() waits for it: a server closed just before its pubsub still says who left.
      this.#leaving.add(leaving);
      void leaving.then(() => this.#leaving.delete(leaving));
    }
    this.#schedule();
  }

  /**
   * The `<topic>.presence` stream of one channel: its members, then every
   * join and leave, until `signal` aborts or the consumer stops.
   */
  watch(topic: string, key: ChannelKey | undefined, signal: AbortSignal | undefined): EventQueue<PresenceUpdate> {
    const channel = channelName(topic, key);
    const queue: EventQueue<PresenceUpdate> = new EventQueue<PresenceUpdate>({
      maxQueued: this.#deps.maxQueued,
      signal,
      onEnd: () => this.#unwatch(channel, queue),
    });
    if (this.#closed) {
      queue.fail(new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'PubSub is closed' }));
      return queue;
    }
    let watched = this.#watched.get(channel);
    if (watched === undefined) {
      watched = this.#startWatching(channel);
      this.#schedule();
    }
    watched.queues.add(queue);
    if (watched.synced) queue.push({ kind: 'members', members: [...watched.known.values()] });
    return queue;
  }

  /** The members of one channel now, oldest first. */
  async members(topic: string, key: ChannelKey | undefined): Promise<PresenceMember[]> {
    return this.store.members(channelName(topic, key));
  }

  /** The engine announced a join or a leave (see {@link EngineContext.presence}). */
  changed(change: PresenceChange): void {
    const watched = this.#watched.get(change.channel);
    if (watched === undefined) return;
    const { member } = change;
    watched.touched.add(member.id);
    if (change.kind === 'join') {
      if (watched.known.has(member.id)) return;
      watched.known.set(member.id, member);
      if (watched.synced) for (const queue of watched.queues) queue.push({ kind: 'join', member });
    } else {
      const knew = watched.known.get(member.id);
      if (knew === undefined) return;
      watched.known.delete(member.id);
      if (watched.synced) for (const queue of watched.queues) queue.push({ kind: 'leave', member: knew });
    }
  }

  /** Every member of this instance leaves, every stream ends; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimer();
    for (const watched of this.#watched.values()) {
      watched.dropped = true;
      for (const queue of [...watched.queues]) void queue.return();
    }
    const leaving = [...this.#local.values()].flatMap((local) => {
      local.left = true;
      const member = local.member;
      if (member === undefined) return [];
      return [(local.joining ?? Promise.resolve()).then(() => this.store.leave(local.channel, member)).catch(() => undefined)];
    });
    this.#local.clear();
    this.#byChannel.clear();
    const unwatching = [...this.#watched.keys()].map((channel) => this.store.unwatch(channel).catch(() => undefined));
    this.#watched.clear();
    await Promise.all([...leaving, ...unwatching, ...this.#leaving]);
  }

  /** The info is built: check it, then join (unless the subscription already ended). */
  #admit(local: LocalMember, schema: z.ZodType, raw: unknown, topic: string): void {
    if (local.left || this.#closed) return;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      this.#deps.logger.error("presence.info's result does not match the topic's presence.info schema; the subscriber is not shown in presence", {
        topic,
        issues: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
      });
      return;
    }
    const member: PresenceMember = { id: `${this.#deps.instanceId}.${(++this.#sequence).toString(36)}`, info: parsed.data, joinedAt: this.#deps.now() };
    local.member = member;
    let members = this.#byChannel.get(local.channel);
    if (members === undefined) this.#byChannel.set(local.channel, (members = new Set()));
    members.add(local);
    const joining = this.store.join(local.channel, member, this.ttlMs).catch((error: unknown) => this.#failed('join', local.channel, error));
    local.joining = joining;
    void joining.then(() => {
      if (local.joining === joining) local.joining = undefined;
    });
  }

  #forget(local: LocalMember): void {
    const members = this.#byChannel.get(local.channel);
    if (members === undefined) return;
    members.delete(local);
    if (members.size === 0) this.#byChannel.delete(local.channel);
  }

  #startWatching(channel: string): Watched {
    const watched: Watched = { known: new Map(), synced: false, touched: new Set(), queues: new Set(), dropped: false };
    this.#watched.set(channel, watched);
    void (async () => {
      try {
        await this.store.watch(channel);
        if (watched.dropped) return;
        await this.#reconcile(channel, watched, { tell: false });
        if (watched.dropped) return;
        watched.synced = true;
        const members = [...watched.known.values()];
        for (const queue of watched.queues) queue.push({ kind: 'members', members });
      } catch (error) {
        if (watched.dropped) return;
        this.#failed('watch', channel, error);
        const failure = new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'Presence is unavailable: the engine could not be read', cause: error });
        this.#drop(channel, watched);
        for (const queue of [...watched.queues]) queue.fail(failure);
      }
    })();
    return watched;
  }

  /** Stops watching `channel` (once per {@link Watched}: each `store.watch` gets one `store.unwatch`). */
  #drop(channel: string, watched: Watched): void {
    if (watched.dropped) return;
    watched.dropped = true;
    if (this.#watched.get(channel) === watched) this.#watched.delete(channel);
    this.store.unwatch(channel).catch((error: unknown) => this.#failed('unwatch', channel, error));
    this.#schedule();
  }

  /**
   * Reads the channel's members and makes `known` match, except for the
   * members an announcement touched meanwhile (they are newer than the
   * read); `tell`: tell the channel's streams what changed.
   */
  async #reconcile(channel: string, watched: Watched, { tell }: { tell: boolean }): Promise<void> {
    watched.touched.clear();
    const members = await this.store.members(channel);
    if (watched.dropped) return;
    const now = new Map(members.map((member) => [member.id, member]));
    for (const [id, member] of watched.known) {
      if (now.has(id) || watched.touched.has(id)) continue;
      watched.known.delete(id);
      if (tell) for (const queue of watched.queues) queue.push({ kind: 'leave', member });
    }
    for (const [id, member] of now) {
      if (watched.known.has(id) || watched.touched.has(id)) continue;
      watched.known.set(id, member);
      if (tell) for (const queue of watched.queues) queue.push({ kind: 'join', member });
    }
  }

  #unwatch(channel: string, queue: EventQueue<PresenceUpdate>): void {
    const watched = this.#watched.get(channel);
    if (watched === undefined || !watched.queues.delete(queue)) return;
    if (watched.queues.size === 0) this.#drop(channel, watched);
  }

  /** The refresh timer runs while this instance has members or watches channels. */
  #schedule(): void {
    const needed = !this.#closed && (this.#local.size > 0 || this.#watched.size > 0);
    if (needed && this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), Math.max(50, Math.floor(this.ttlMs / 3)));
      this.#timer.unref();
    } else if (!needed) {
      this.#stopTimer();
    }
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Keeps this instance's members alive, and repairs what watchers know. */
  #tick(): void {
    for (const [channel, locals] of this.#byChannel) {
      const members = [...locals].flatMap((local) => (local.member === undefined ? [] : [local.member]));
      this.store.refresh(channel, members, this.ttlMs).catch((error: unknown) => this.#failed('refresh', channel, error));
    }
    for (const [channel, watched] of this.#watched) {
      if (!watched.synced) continue;
      this.#reconcile(channel, watched, { tell: true }).catch((error: unknown) => this.#failed('read', channel, error));
    }
  }

  #failed(what: string, channel: string, error: unknown): void {
    if (this.#closed) return;
    this.#deps.logger.warn(`presence ${what} failed; it is repaired on the next refresh`, { channel, error: error instanceof Error ? error.message : String(error) });
  }
}
