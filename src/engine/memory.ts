/**
 * The default engine: one process, no broker, history in memory.
 * @module
 */
import type { Engine, EngineContext, EngineHealth, EventDraft, HistoryRead, PubSubEvent, SubscriptionScope } from './engine.js';
import { formatEventId, parseEventId, parseSortablePosition, randomEpoch, sortablePosition } from './event-id.js';
import { MemoryHistory, type RingRead } from './memory-history.js';
import { MemoryPresence } from './memory-presence.js';

/**
 * The default engine: one process, no broker. `publish` stores the event
 * (for topics with a history policy) and delivers it synchronously to local
 * subscribers, so a publish resolves after every local subscriber has been
 * handed the event. Ids are `<epoch>:<position>`, the epoch drawn at random
 * when the engine is made (a restarted process has a new one, so an old id
 * is recognised as foreign), the position one counter for every channel.
 */
export class MemoryEngine implements Engine {
  readonly name = 'memory';
  /** No broker: nothing to wait for, so nothing to bound. */
  readonly commandTimeoutMs = Infinity;
  /** The epoch of this engine's history (the first part of every id it gives). */
  readonly epoch = randomEpoch();
  /** Who is in each channel (this process only). */
  readonly presence = new MemoryPresence((change) => this.#context?.presence(change));
  #context: EngineContext | undefined;
  #history: MemoryHistory | undefined;
  #position = 0;
  readonly #now: () => number;

  /** @param options.now the clock the age bound reads, for tests. @default Date.now */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  start(context: EngineContext): void {
    this.#context = context;
    this.#history = new MemoryHistory((topic) => context.history(topic), this.#now);
  }

  publish(channel: string, draft: EventDraft): Promise<PubSubEvent> {
    const context = this.#context;
    if (context === undefined) return Promise.reject(new Error('memory engine is not started or closed'));
    const position = ++this.#position;
    const event = draft as PubSubEvent;
    event.id = formatEventId(this.epoch, sortablePosition(position));
    this.#history?.append(channel, event, position);
    context.deliver(event);
    return Promise.resolve(event);
  }

  since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead> {
    const parsed = parseEventId(cursor);
    const position = parsed?.epoch === this.epoch ? parseSortablePosition(parsed.position) : undefined;
    if (position === undefined || this.#history === undefined) return Promise.resolve({ ok: false, reason: 'unknown', cursor: this.#head() });
    return Promise.resolve(this.#read(this.#history.since(scope, position, this.#position)));
  }

  latest(scope: SubscriptionScope, n: number): Promise<HistoryRead> {
    if (this.#history === undefined) return Promise.resolve({ ok: true, events: [], cursor: this.#head() });
    return Promise.resolve(this.#read(this.#history.latest(scope, n)));
  }

  listen(): void {}

  unlisten(): void {}

  health(): EngineHealth {
    return { status: 'ok' };
  }

  /** No broker to ask: its health, at once. */
  check(): Promise<EngineHealth> {
    return Promise.resolve(this.health());
  }

  close(): Promise<void> {
    this.#context = undefined;
    this.#history?.clear();
    this.presence.clear();
    return Promise.resolve();
  }

  #head(): string {
    return formatEventId(this.epoch, sortablePosition(this.#position));
  }

  #read(read: RingRead): HistoryRead {
    if (!read.ok) return { ok: false, reason: read.reason, cursor: this.#head() };
    return { ok: true, events: read.events, cursor: read.events.at(-1)?.id ?? this.#head() };
  }
}

/** Creates the in-memory engine (the default of `createPubSub`). */
export function memoryEngine(options: { now?: () => number } = {}): Engine {
  return new MemoryEngine(options);
}
