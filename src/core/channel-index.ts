import type { GapSignal, PubSubEvent } from '../../client/protocol.js';
import type { EncodedEvent } from './encoded-event.js';
import { channelName, scopeName, type SubscriptionScope } from './scope.js';

/** Something that receives events: a WebSocket subscription, a server callback, an iterator. */
export interface Sink {
  /** Called synchronously for each event in the sink's scope; must not throw. */
  deliver(encoded: EncodedEvent): void;
  /** Events of its scope may have been lost on the way (a broker connection dropped): tell the consumer. */
  lost(gap: GapSignal, cursor: string): void;
}

/** Told when a scope gains its first sink or loses its last (engines subscribe to brokers there). */
export interface ScopeActivityListener {
  /** The scope has its first local sink. */
  onActive(scope: SubscriptionScope): void;
  /** The scope has no local sink any more. */
  onIdle(scope: SubscriptionScope): void;
}

/**
 * Local subscribers, indexed so that an event finds its receivers in three
 * map lookups whatever the number of channels: its channel's sinks, its
 * topic's all-keys sinks and the all-topics sinks. A sink sits in exactly
 * one set, so nobody receives an event twice.
 */
export class ChannelIndex {
  readonly #byChannel = new Map<string, Set<Sink>>();
  readonly #byTopic = new Map<string, Set<Sink>>();
  readonly #allTopics = new Set<Sink>();
  #size = 0;

  constructor(private readonly activity?: ScopeActivityListener) {}

  /** Number of sinks registered. */
  get size(): number {
    return this.#size;
  }

  /** Number of distinct non-empty scopes (channels, topic-wide, all). */
  get scopeCount(): number {
    return this.#byChannel.size + this.#byTopic.size + (this.#allTopics.size > 0 ? 1 : 0);
  }

  /** Registers `sink` for `scope`; {@link remove} takes it out. */
  insert(scope: SubscriptionScope, sink: Sink): void {
    const set = this.#setFor(scope, true);
    if (set.has(sink)) throw new Error(`sink already registered for ${scopeName(scope)}`);
    set.add(sink);
    this.#size++;
    if (set.size === 1) this.activity?.onActive(scope);
  }

  /** Unregisters `sink` from `scope`; returns false if it was not there (so it is safe to call twice). */
  remove(scope: SubscriptionScope, sink: Sink): boolean {
    const set = this.#setFor(scope, false);
    if (set === undefined || !set.delete(sink)) return false;
    this.#size--;
    if (set.size === 0) {
      this.#dropSet(scope);
      this.activity?.onIdle(scope);
    }
    return true;
  }

  /** Hands `encoded` to every sink whose scope covers its channel; returns how many. */
  dispatch(encoded: EncodedEvent): number {
    const event: PubSubEvent = encoded.event;
    let handed = this.#allTopics.size;
    const channel = this.#byChannel.get(channelName(event.topic, event.key));
    if (channel !== undefined) {
      handed += channel.size;
      for (const sink of channel) sink.deliver(encoded);
    }
    if (event.key !== undefined) {
      const topic = this.#byTopic.get(event.topic);
      if (topic !== undefined) {
        handed += topic.size;
        for (const sink of topic) sink.deliver(encoded);
      }
    }
    for (const sink of this.#allTopics) sink.deliver(encoded);
    return handed;
  }

  /** Calls `visit` for every sink that receives events of `topic` (its channels, every key, every topic). */
  forEachOfTopic(topic: string, visit: (sink: Sink) => void): void {
    for (const [name, sinks] of this.#byChannel) {
      if (name === topic || name.startsWith(`${topic}:`)) for (const sink of sinks) visit(sink);
    }
    for (const sink of this.#byTopic.get(topic) ?? []) visit(sink);
    for (const sink of this.#allTopics) visit(sink);
  }

  #setFor(scope: SubscriptionScope, create: true): Set<Sink>;
  #setFor(scope: SubscriptionScope, create: boolean): Set<Sink> | undefined;
  #setFor(scope: SubscriptionScope, create: boolean): Set<Sink> | undefined {
    if (scope.kind === 'all') return this.#allTopics;
    const map = scope.kind === 'channel' ? this.#byChannel : this.#byTopic;
    const name = scope.kind === 'channel' ? channelName(scope.topic, scope.key) : scope.topic;
    let set = map.get(name);
    if (set === undefined && create) {
      set = new Set();
      map.set(name, set);
    }
    return set;
  }

  #dropSet(scope: SubscriptionScope): void {
    if (scope.kind === 'channel') this.#byChannel.delete(channelName(scope.topic, scope.key));
    else if (scope.kind === 'topic') this.#byTopic.delete(scope.topic);
  }
}
