/**
 * The broker subscriptions of a bridge engine: one per broker channel,
 * subscribed while a local scope needs it (counted), released with the
 * last, retried after a failure, resubscribed after a reconnect. One
 * subscribe/unsubscribe loop per channel at a time, so the broker never
 * sees a channel subscribed twice.
 * @module
 */
import type { BrokerPubSub } from './broker-link.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** Delay before a failed broker subscribe is retried. */
const RETRY_MS = 1000;

interface ChannelState {
  readonly topic: string;
  readonly channel: string;
  /** Local scopes that map to this channel. */
  refs: number;
  /** Broker subscription id, while subscribed. */
  subId: number | undefined;
  /** Pending broker subscribe, for publishes to wait on (read-your-writes). */
  subscribing: Promise<void> | undefined;
  /** Whether a subscribe/unsubscribe loop runs. */
  busy: boolean;
  /** Settles when the running loop ends. */
  op: Promise<void>;
  /** Retry timer after a failed subscribe. */
  retry: ReturnType<typeof setTimeout> | undefined;
  readonly onMessage: (message: unknown) => void;
}

/** What {@link BrokerChannels} reports to its engine. */
export interface BrokerChannelsHooks {
  log: Log;
  /** A message arrived on `channel` (of `topic`). */
  receive(topic: string, channel: string, raw: unknown): void;
}

/** The broker subscriptions of one engine (see the module comment). */
export class BrokerChannels {
  readonly #channels = new Map<string, ChannelState>();
  #closed = false;

  constructor(
    private readonly broker: BrokerPubSub,
    private readonly hooks: BrokerChannelsHooks,
  ) {}

  /** Broker channels subscribed now. */
  subscribed(): string[] {
    return [...this.#channels.values()].filter((s) => s.subId !== undefined).map((s) => s.channel);
  }

  /** Topics some local scope listens to now. */
  topics(): string[] {
    return [...new Set([...this.#channels.values()].filter((s) => s.refs > 0).map((s) => s.topic))];
  }

  /** The broker subscribe of `channel` while it is in flight (never rejects). */
  subscribing(channel: string): Promise<void> | undefined {
    return this.#channels.get(channel)?.subscribing;
  }

  /** Resolves once every pending broker subscribe and unsubscribe has completed. */
  async settled(): Promise<void> {
    for (;;) {
      const busy = [...this.#channels.values()].filter((s) => s.busy).map((s) => s.op);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  /** One more (`+1`) or one less (`-1`) local scope needs each of `channels` (`[topic, channel]` pairs). */
  async change(channels: readonly (readonly [topic: string, channel: string])[], delta: 1 | -1): Promise<void> {
    if (this.#closed) return;
    const ops: Promise<void>[] = [];
    for (const [topic, channel] of channels) {
      let state = this.#channels.get(channel);
      if (state === undefined) {
        if (delta < 0) continue;
        state = this.#newState(topic, channel);
        this.#channels.set(channel, state);
      }
      state.refs = Math.max(0, state.refs + delta);
      ops.push(this.#reconcile(state));
    }
    await Promise.all(ops);
  }

  /** Retries the broker subscription of every channel that needs one and lacks it (after a reconnect). */
  resync(): void {
    for (const state of this.#channels.values()) {
      if (state.refs > 0 && state.subId === undefined) void this.#reconcile(state);
    }
  }

  /**
   * Releases every broker subscription; a subscribe still in flight
   * unsubscribes itself when it completes. Resolves when the unsubscribes
   * are done; `pending` settles when the loops in flight end.
   */
  async close(): Promise<{ pending: Promise<unknown> }> {
    this.#closed = true;
    const subscribed: number[] = [];
    for (const state of this.#channels.values()) {
      if (state.retry !== undefined) clearTimeout(state.retry);
      if (state.subId !== undefined) subscribed.push(state.subId);
      state.subId = undefined;
      state.refs = 0;
    }
    const pending = Promise.all([...this.#channels.values()].map((s) => s.op));
    this.#channels.clear();
    for (const subId of subscribed) {
      try {
        await this.broker.unsubscribe(subId);
      } catch (error) {
        this.hooks.log('debug', 'broker unsubscribe at close failed', { error: String(error) });
      }
    }
    return { pending };
  }

  #newState(topic: string, channel: string): ChannelState {
    const state: ChannelState = {
      topic,
      channel,
      refs: 0,
      subId: undefined,
      subscribing: undefined,
      busy: false,
      op: Promise.resolve(),
      retry: undefined,
      onMessage: (message) => {
        if (!this.#closed) this.hooks.receive(topic, channel, message);
      },
    };
    return state;
  }

  /** Brings the broker subscription of `state` in line with its refs; one loop per channel at a time. */
  #reconcile(state: ChannelState): Promise<void> {
    if (state.busy) return state.op;
    if (state.retry !== undefined) {
      clearTimeout(state.retry);
      state.retry = undefined;
    }
    state.busy = true;
    state.op = this.#run(state);
    return state.op;
  }

  async #run(state: ChannelState): Promise<void> {
    try {
      for (;;) {
        if (this.#closed) return;
        if (state.refs > 0 && state.subId === undefined) {
          if (!(await this.#subscribe(state))) return;
        } else if (state.refs === 0 && state.subId !== undefined) {
          await this.#unsubscribe(state);
        } else {
          return;
        }
      }
    } finally {
      state.busy = false;
      if (state.refs === 0 && state.subId === undefined && this.#channels.get(state.channel) === state) {
        this.#channels.delete(state.channel);
      }
    }
  }

  /** Subscribes `state`'s channel; false when the loop must stop (closed, or a retry is scheduled). */
  async #subscribe(state: ChannelState): Promise<boolean> {
    const subscribed = this.broker.subscribe(state.channel, state.onMessage);
    state.subscribing = subscribed.then(
      () => {},
      () => {},
    );
    try {
      const subId = await subscribed;
      if (this.#closed) {
        await this.broker.unsubscribe(subId);
        return false;
      }
      state.subId = subId;
      this.hooks.log('debug', 'broker channel subscribed', { channel: state.channel });
      return true;
    } catch (error) {
      if (this.#closed) return false;
      this.hooks.log('error', 'broker subscribe failed; retrying', { channel: state.channel, error: String(error) });
      state.retry = setTimeout(() => {
        state.retry = undefined;
        void this.#reconcile(state);
      }, RETRY_MS);
      state.retry.unref?.();
      return false;
    } finally {
      state.subscribing = undefined;
    }
  }

  async #unsubscribe(state: ChannelState): Promise<void> {
    const subId = state.subId!;
    state.subId = undefined;
    try {
      await this.broker.unsubscribe(subId);
      this.hooks.log('debug', 'broker channel released', { channel: state.channel });
    } catch (error) {
      this.hooks.log('warn', 'broker unsubscribe failed', { channel: state.channel, error: String(error) });
    }
  }
}
