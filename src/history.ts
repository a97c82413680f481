import type { PubSubEvent } from '../client/protocol.js';
import type { HistoryPolicy } from './topics.js';

/** What a history lookup for a resume found. */
export type ReplayResult =
  /** `lastEventId` is in the window: these events came after it (maybe none). */
  | { readonly found: true; readonly events: readonly PubSubEvent[] }
  /** `lastEventId` is older than the window (or unknown): the subscriber missed events. */
  | { readonly found: false; readonly oldestId: string | undefined };

/**
 * Recent events of every channel, kept in memory under each topic's
 * {@link HistoryPolicy} (count and age).
 */
export class MemoryHistory {
  readonly #channels = new Map<string, PubSubEvent[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Appends `event` to `channel`'s history and trims it to `policy`. */
  append(channel: string, event: PubSubEvent, policy: HistoryPolicy): void {
    let events = this.#channels.get(channel);
    if (events === undefined) {
      events = [];
      this.#channels.set(channel, events);
    }
    events.push(event);
    if (events.length > policy.maxEvents) events.splice(0, events.length - policy.maxEvents);
    this.#trimAge(events, policy);
  }

  /** The events of `channel` after `lastEventId`, or a miss when it is no longer kept. */
  since(channel: string, lastEventId: string, policy: HistoryPolicy): ReplayResult {
    const events = this.#channels.get(channel);
    if (events === undefined) return { found: false, oldestId: undefined };
    this.#trimAge(events, policy);
    for (let i = events.length - 1; i >= 0; i--) {
      if (events[i]?.id === lastEventId) return { found: true, events: events.slice(i + 1) };
    }
    return { found: false, oldestId: events[0]?.id };
  }

  /** The events currently kept for `channel`, oldest first. */
  recent(channel: string): readonly PubSubEvent[] {
    return this.#channels.get(channel) ?? [];
  }

  /** Forgets everything. */
  clear(): void {
    this.#channels.clear();
  }

  #trimAge(events: PubSubEvent[], policy: HistoryPolicy): void {
    if (policy.maxAgeMs === undefined) return;
    const oldest = this.now() - policy.maxAgeMs;
    let drop = 0;
    while (drop < events.length && (events[drop]?.ts ?? 0) < oldest) drop++;
    if (drop > 0) events.splice(0, drop);
  }
}
