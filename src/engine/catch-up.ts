/**
 * No acknowledged event lost when an instance's broker connection drops:
 * while it is down, events published elsewhere never reach this instance.
 * When it comes back, each topic this instance listens to is caught up
 * from the broker's history, after the last event it delivered, before
 * the live events that arrive meanwhile (held, then delivered without the
 * ones the catch-up already gave); when history cannot give them back (no
 * history for the topic, or it was trimmed or reset), local subscribers
 * are told with a gap instead of silence.
 * @module
 */
import type { BrokerHistory } from './broker-history.js';
import type { EngineContext, PubSubEvent } from './engine.js';

/** What {@link BrokerCatchUp} needs from its engine. */
export interface CatchUpDeps {
  /** The broker's history, when it keeps one. */
  readonly history: () => BrokerHistory | undefined;
  /** The core's context, once started. */
  readonly context: () => EngineContext | undefined;
  /** Delivers an event locally unless it was delivered already. */
  readonly deliver: (event: PubSubEvent) => void;
  readonly log: EngineContext['log'];
}

/** The catch-up state of one engine (see the module comment). */
export class BrokerCatchUp {
  /** Per topic: the id of the last event delivered here (for a topic with history, else the head when it was first listened to). */
  readonly #lastSeen = new Map<string, string>();
  /** Topics whose events may have been missed since the connection was lost. */
  readonly #missed = new Set<string>();
  /** Per topic being caught up: live events held until the catch-up is delivered. */
  readonly #held = new Map<string, PubSubEvent[]>();
  /** Per topic: the catch-up running. */
  readonly #running = new Map<string, Promise<void>>();

  constructor(private readonly deps: CatchUpDeps) {}

  /** Records an event delivered here. */
  seen(event: PubSubEvent): void {
    this.#lastSeen.set(event.topic, event.id);
  }

  /** Whether a live event of `topic` must wait for its catch-up (then it is held). */
  hold(event: PubSubEvent): boolean {
    const held = this.#held.get(event.topic);
    if (held === undefined) return false;
    held.push(event);
    return true;
  }

  /** The first local subscriber of `topic` arrived: remember where its history stands, to catch up from there. */
  async listening(topic: string): Promise<void> {
    const history = this.deps.history();
    if (history === undefined || !this.#hasHistory(topic) || this.#lastSeen.has(topic)) return;
    try {
      const head = await history.latest({ kind: 'topic', topic }, 1);
      if (head.cursor !== undefined && !this.#lastSeen.has(topic)) this.#lastSeen.set(topic, head.cursor);
    } catch (error) {
      this.deps.log('debug', 'could not read the history head', { topic, error: String(error) });
    }
  }

  /**
   * The broker connection was lost: every topic in `topics` may miss events
   * from now on. Live events of those topics are held from now until their
   * catch-up, so that the last delivered id stays where the hole begins.
   */
  lost(topics: Iterable<string>): void {
    for (const topic of topics) {
      this.#missed.add(topic);
      if (!this.#held.has(topic)) this.#held.set(topic, []);
    }
  }

  /** The broker connection is back and listening again: catch up every topic that may have missed events. */
  async restored(): Promise<void> {
    const topics = [...this.#missed];
    this.#missed.clear();
    await Promise.all(topics.map((topic) => this.#serialized(topic)));
  }

  /** Forgets everything (the engine closes). */
  clear(): void {
    this.#lastSeen.clear();
    this.#missed.clear();
    this.#held.clear();
    this.#running.clear();
  }

  /** One catch-up of `topic` at a time: a new one waits for the one running. */
  #serialized(topic: string): Promise<void> {
    const next = (this.#running.get(topic) ?? Promise.resolve()).then(() => this.#catchUp(topic));
    this.#running.set(topic, next);
    void next.finally(() => {
      if (this.#running.get(topic) === next) this.#running.delete(topic);
    });
    return next;
  }

  async #catchUp(topic: string): Promise<void> {
    const context = this.deps.context();
    if (context === undefined) return;
    const history = this.deps.history();
    const after = this.#lastSeen.get(topic);
    try {
      if (history === undefined || !this.#hasHistory(topic) || after === undefined) {
        context.gap(topic, 'unsupported', after);
        return;
      }
      const read = await history.since({ kind: 'topic', topic }, after);
      if (read.ok) {
        for (const event of read.events) this.deps.deliver(event);
        this.deps.log('info', 'caught up from history after the broker connection came back', { topic, events: read.events.length });
      } else {
        context.gap(topic, read.reason, after);
      }
    } catch (error) {
      this.#missed.add(topic);
      this.deps.log('warn', 'could not catch up from history; trying again at the next reconnect', { topic, error: String(error) });
    } finally {
      // Lost again meanwhile: keep holding; the next catch-up starts where this one ended and covers what is held.
      if (!this.#missed.has(topic)) {
        const held = this.#held.get(topic) ?? [];
        this.#held.delete(topic);
        for (const event of held) this.deps.deliver(event);
      }
    }
  }

  #hasHistory(topic: string): boolean {
    return this.deps.history() !== undefined && this.deps.context()?.history(topic) !== undefined;
  }
}
