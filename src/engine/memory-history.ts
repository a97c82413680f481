/**
 * The memory engine's history: a bounded ring of recent events per channel,
 * trimmed by each topic's count and age, read by position for resume.
 * Positions are one counter for the whole engine, so a position also says
 * where a subscriber to several channels (every key of a topic, every
 * topic) stands.
 * @module
 */
import type { HistoryPolicy, PubSubEvent, SubscriptionScope } from './engine.js';
import { channelName } from './engine.js';

/** One channel's kept events, oldest first, with their positions. */
interface ChannelRing {
  readonly name: string;
  readonly topic: string;
  readonly events: PubSubEvent[];
  readonly positions: number[];
  /** Index of the oldest kept event (the ring is compacted lazily). */
  head: number;
  /** Position of the newest event dropped from this channel, 0 when none was. */
  dropped: number;
}

/** What a read found, by position (the engine turns positions into ids). */
export type RingRead =
  | { readonly ok: true; readonly events: readonly PubSubEvent[]; readonly last: number | undefined }
  | { readonly ok: false; readonly reason: 'expired' | 'unknown' };

/** Recent events per channel, in memory. */
export class MemoryHistory {
  readonly #channels = new Map<string, ChannelRing>();
  readonly #byTopic = new Map<string, Set<ChannelRing>>();
  /** Per topic: the newest position dropped with a channel that was forgotten entirely. */
  readonly #forgotten = new Map<string, number>();

  constructor(
    private readonly policyOf: (topic: string) => HistoryPolicy | undefined,
    private readonly now: () => number,
  ) {}

  /** Keeps `event` (at `position`) in `channel`'s ring when its topic has a history policy. */
  append(channel: string, event: PubSubEvent, position: number): void {
    const policy = this.policyOf(event.topic);
    if (policy === undefined) return;
    let ring = this.#channels.get(channel);
    if (ring === undefined) {
      ring = { name: channel, topic: event.topic, events: [], positions: [], head: 0, dropped: 0 };
      this.#channels.set(channel, ring);
      let rings = this.#byTopic.get(event.topic);
      if (rings === undefined) this.#byTopic.set(event.topic, (rings = new Set()));
      rings.add(ring);
    }
    ring.events.push(event);
    ring.positions.push(position);
    const excess = ring.events.length - ring.head - policy.maxEvents;
    if (excess > 0) this.#drop(ring, excess);
    this.#trimAge(ring, policy);
  }

  /**
   * The events of `scope` after `position`, merged in position order, or why
   * they cannot all be given. `head` is the engine's newest position.
   */
  since(scope: SubscriptionScope, position: number, head: number): RingRead {
    if (position > head) return { ok: false, reason: 'unknown' };
    const rings = this.#rings(scope);
    for (const topic of this.#topicsOf(scope, rings)) {
      if (position < (this.#forgotten.get(topic) ?? 0)) return { ok: false, reason: 'expired' };
    }
    const found: { event: PubSubEvent; position: number }[] = [];
    for (const ring of rings) {
      this.#trimAge(ring, this.policyOf(ring.topic));
      if (position < ring.dropped) return { ok: false, reason: 'expired' };
      for (let i = ring.positions.length - 1; i >= ring.head && ring.positions[i]! > position; i--) {
        found.push({ event: ring.events[i]!, position: ring.positions[i]! });
      }
    }
    return ordered(found);
  }

  /** The newest `n` events of `scope`, oldest first. */
  latest(scope: SubscriptionScope, n: number): RingRead {
    const found: { event: PubSubEvent; position: number }[] = [];
    for (const ring of this.#rings(scope)) {
      this.#trimAge(ring, this.policyOf(ring.topic));
      for (let i = ring.positions.length - 1; i >= ring.head && i >= ring.positions.length - n; i--) {
        found.push({ event: ring.events[i]!, position: ring.positions[i]! });
      }
    }
    found.sort((a, b) => a.position - b.position);
    return ordered(found.slice(Math.max(0, found.length - n)));
  }

  /** Forgets everything. */
  clear(): void {
    this.#channels.clear();
    this.#byTopic.clear();
    this.#forgotten.clear();
  }

  #rings(scope: SubscriptionScope): ChannelRing[] {
    if (scope.kind === 'channel') {
      const ring = this.#channels.get(channelName(scope.topic, scope.key));
      return ring === undefined ? [] : [ring];
    }
    if (scope.kind === 'topic') return [...(this.#byTopic.get(scope.topic) ?? [])];
    return [...this.#channels.values()];
  }

  /** The topics whose forgotten channels matter to `scope`. */
  #topicsOf(scope: SubscriptionScope, rings: readonly ChannelRing[]): Iterable<string> {
    if (scope.kind === 'all') return this.#forgotten.keys();
    if (scope.kind === 'topic') return [scope.topic];
    // One channel: a forgotten ring of it only matters when it is gone now.
    return rings.length === 0 ? [scope.topic] : [];
  }

  #drop(ring: ChannelRing, count: number): void {
    ring.dropped = ring.positions[ring.head + count - 1]!;
    ring.head += count;
    if (ring.head > 64 && ring.head * 2 > ring.events.length) {
      ring.events.splice(0, ring.head);
      ring.positions.splice(0, ring.head);
      ring.head = 0;
    }
  }

  #trimAge(ring: ChannelRing, policy: HistoryPolicy | undefined): void {
    if (policy?.maxAgeMs === undefined) return;
    const oldest = this.now() - policy.maxAgeMs;
    let count = 0;
    while (ring.head + count < ring.events.length && ring.events[ring.head + count]!.ts < oldest) count++;
    if (count === 0) return;
    this.#drop(ring, count);
    if (ring.head < ring.events.length) return;
    // Empty: forget the channel, remembering how far its topic's history reached.
    this.#channels.delete(ring.name);
    this.#byTopic.get(ring.topic)?.delete(ring);
    if (this.#byTopic.get(ring.topic)?.size === 0) this.#byTopic.delete(ring.topic);
    this.#forgotten.set(ring.topic, Math.max(this.#forgotten.get(ring.topic) ?? 0, ring.dropped));
  }
}

function ordered(found: { event: PubSubEvent; position: number }[]): RingRead {
  found.sort((a, b) => a.position - b.position);
  return { ok: true, events: found.map((f) => f.event), last: found.at(-1)?.position };
}
