import { randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import type { PubSubEvent } from '../../client/protocol.js';
import type { SubscriptionScope } from '../subscription-scope.js';
import { decodeBridgeMessage, encodeBridgeMessage, jsonCodec, sampleOf, type BridgeCodec } from './bridge-message.js';
import type { Engine, EngineContext, EngineHealth } from './engine.js';
import { RecentIds } from './recent-ids.js';

/**
 * What a bridge needs from a broker client: the `graphql-subscriptions`
 * `PubSubEngine` calls (`RedisPubSub`, `PubSub`, or any other engine).
 */
export interface BrokerPubSub {
  /** Sends `payload` to every subscriber of `trigger`. */
  publish(trigger: string, payload: unknown): Promise<void>;
  /** Calls `onMessage` for each payload published on `trigger`; resolves to a subscription id once effective. */
  subscribe(trigger: string, onMessage: (message: unknown) => void, options?: object): Promise<number>;
  /** Ends the subscription `subId`. */
  unsubscribe(subId: number): unknown;
}

/** Counters of a bridge engine, for tests and metrics. */
export interface BridgeStats {
  /** Messages handed to the broker. */
  published: number;
  /** Events received from the broker and delivered locally. */
  delivered: number;
  /** Of those, events this instance had published itself (delivered once, in broker order). */
  own: number;
  /** Events received again (same id) and dropped. */
  duplicates: number;
  /** Malformed messages dropped. */
  malformed: number;
}

/** Options of a {@link BridgeEngine}. */
export interface BridgeEngineOptions {
  /** Name in logs and health. @default 'graphql-subscriptions' */
  name?: string;
  /** Channel-name prefix, so that apps can share a broker. @default 'trpc-pubsub' */
  prefix?: string;
  /** Serializes bridge messages. @default JSON */
  codec?: BridgeCodec;
  /** Largest serialized message the broker takes; larger publishes fail with `PAYLOAD_TOO_LARGE`. @default no limit */
  maxMessageBytes?: number;
}

/** The default channel-name prefix. */
export const DEFAULT_PREFIX = 'trpc-pubsub';

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Longest `close()` waits for broker subscribes in flight. */
const CLOSE_WAIT_MS = 1000;

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

/**
 * An {@link Engine} over any publish/subscribe broker with the
 * `graphql-subscriptions` calls. One broker channel per topic
 * (`<prefix>:{<topic>}`), subscribed while a local scope needs it (on the
 * first, released on the last); keys are filtered locally by the core's
 * index. Each event travels as a versioned {@link BridgeMessage} stamped
 * with this instance's id, and is delivered only when the broker hands it
 * back, also on the publishing instance, so every instance sees a channel's
 * events in the broker's order. Malformed messages are dropped with a
 * `warn` log; an id seen again is dropped, so nothing is delivered twice.
 */
export class BridgeEngine implements Engine {
  /** Short name for logs and health. */
  readonly name: string;
  /** Channel-name prefix. */
  readonly prefix: string;
  readonly #pubsub: BrokerPubSub;
  readonly #codec: BridgeCodec;
  readonly #maxMessageBytes: number | undefined;
  readonly #channels = new Map<string, ChannelState>();
  readonly #tails = new Map<string, Promise<void>>();
  /** Releases of publishes waiting at a gate, fired when the broker is lost. */
  readonly #gateWaiters = new Set<() => void>();
  readonly #recent = new RecentIds();
  readonly #stats: BridgeStats = { published: 0, delivered: 0, own: 0, duplicates: 0, malformed: 0 };
  #context: EngineContext | undefined;
  #instanceId = '';
  #topics: readonly string[] | undefined;
  #closing: Promise<void> | undefined;

  constructor(pubsub: BrokerPubSub, options: BridgeEngineOptions = {}) {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (!PREFIX_PATTERN.test(prefix)) throw new TypeError(`Invalid prefix ${JSON.stringify(prefix)}: 1-64 characters of [A-Za-z0-9_.:-]`);
    this.#pubsub = pubsub;
    this.name = options.name ?? 'graphql-subscriptions';
    this.prefix = prefix;
    this.#codec = options.codec ?? jsonCodec;
    this.#maxMessageBytes = options.maxMessageBytes;
  }

  /** This instance's id, as put on every bridged message (known after `start`). */
  get instanceId(): string {
    return this.#instanceId;
  }

  /** Counters since start. */
  get stats(): Readonly<BridgeStats> {
    return { ...this.#stats };
  }

  /**
   * The broker channel carrying `topic`'s events: `<prefix>:{<topic>}`. The
   * braces are a Redis Cluster hash tag, so the channel and any later
   * per-topic key (such as a history stream `<prefix>:{<topic>}:…`) share
   * one slot.
   */
  channelOf(topic: string): string {
    return `${this.prefix}:{${topic}}`;
  }

  /** Broker channels currently subscribed. */
  brokerChannels(): string[] {
    return [...this.#channels.values()].filter((s) => s.subId !== undefined).map((s) => s.channel);
  }

  /** Resolves once every pending broker subscribe and unsubscribe has completed. */
  async settled(): Promise<void> {
    for (;;) {
      const busy = [...this.#channels.values()].filter((s) => s.busy).map((s) => s.op);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  /** Takes the core's context (instance id, topic names) and connects the broker. */
  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    this.#instanceId = context.instanceId ?? randomBytes(6).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x');
    this.#topics = context.topics;
    await this.connect();
  }

  /**
   * Sends `event` to the broker; it reaches local subscribers when the
   * broker hands it back. Rejects at once while health is degraded.
   */
  async publish(event: PubSubEvent): Promise<void> {
    if (this.#closing !== undefined) throw new Error(`${this.name} engine is closed`);
    if (this.#context === undefined) throw new Error(`${this.name} engine is not started`);
    this.#assertHealthy();
    const text = this.#encode(event);
    const channel = this.channelOf(event.topic);
    const gate = this.#gateFor(channel);
    if (gate === undefined) return this.#send(channel, text);
    const sent = gate.then(() => {
      if (this.#closing !== undefined) throw new Error(`${this.name} engine is closed`);
      this.#assertHealthy();
      return this.#send(channel, text);
    });
    const tail = sent.then(
      () => {},
      () => {},
    );
    this.#tails.set(channel, tail);
    void tail.then(() => {
      if (this.#tails.get(channel) === tail) this.#tails.delete(channel);
    });
    return sent;
  }

  /** Subscribes the broker channels of `scope` (one topic, or every topic) if this is their first local scope. */
  listen(scope: SubscriptionScope): Promise<void> {
    return this.#change(scope, +1);
  }

  /** Releases the broker channels of `scope` that no other local scope needs. */
  unlisten(scope: SubscriptionScope): Promise<void> {
    return this.#change(scope, -1);
  }

  /** `degraded` while the broker is unreachable (and after `close`). */
  health(): EngineHealth {
    if (this.#closing !== undefined) return { status: 'degraded', detail: `${this.name} engine closed` };
    return this.brokerHealth();
  }

  /** Releases every broker subscription, then the broker connection. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Connects the broker; called by `start`. */
  protected connect(): void | Promise<void> {}

  /** Releases the broker connection; called once by `close`, after every channel is released. */
  protected disconnect(): void | Promise<void> {}

  /** Broker connection health. @default always ok */
  protected brokerHealth(): EngineHealth {
    return { status: 'ok' };
  }

  /**
   * Subclasses call this when the broker connection is lost: publishes
   * waiting for a subscription in flight stop waiting (and fail while
   * health is degraded).
   */
  protected brokerLost(): void {
    for (const release of [...this.#gateWaiters]) release();
  }

  /** Logs through the core's logger (nothing before `start`). */
  protected log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.#context?.log(level, message, { engine: this.name, ...fields });
  }

  /** Retries the broker subscription of every channel that needs one and lacks it (call after a reconnect). */
  protected resync(): void {
    for (const state of this.#channels.values()) {
      if (state.refs > 0 && state.subId === undefined) this.#reconcile(state);
    }
  }

  #assertHealthy(): void {
    const health = this.health();
    if (health.status !== 'ok') throw new Error(`${this.name} unavailable: ${health.detail ?? 'broker not connected'}`);
  }

  #encode(event: PubSubEvent): string {
    let text: string;
    try {
      text = encodeBridgeMessage(this.#instanceId, event, this.#codec);
    } catch (error) {
      throw new TRPCError({
        code: 'INTERNAL_SERVER_ERROR',
        message: `Event on "${event.topic}" cannot be serialized for the ${this.name} broker: ${String(error)}`,
        cause: error,
      });
    }
    if (this.#maxMessageBytes !== undefined && Buffer.byteLength(text) > this.#maxMessageBytes) {
      throw new TRPCError({
        code: 'PAYLOAD_TOO_LARGE',
        message: `Event on "${event.topic}" is larger than the ${this.name} broker takes (${this.#maxMessageBytes} bytes)`,
      });
    }
    return text;
  }

  #send(channel: string, text: string): Promise<void> {
    this.#stats.published++;
    return this.#pubsub.publish(channel, text);
  }

  /**
   * What a publish on `channel` must wait for: a broker subscribe in flight
   * (so that a local subscriber that arrived before the publish sees it),
   * and earlier publishes that waited (so that publishes keep their order).
   * Cut short when the broker connection is lost.
   */
  #gateFor(channel: string): Promise<void> | undefined {
    const tail = this.#tails.get(channel);
    const subscribing = this.#channels.get(channel)?.subscribing;
    if (tail === undefined && subscribing === undefined) return undefined;
    return new Promise<void>((resolve) => {
      const release = () => {
        this.#gateWaiters.delete(release);
        resolve();
      };
      this.#gateWaiters.add(release);
      void Promise.all([tail, subscribing]).then(release);
    });
  }

  async #change(scope: SubscriptionScope, delta: 1 | -1): Promise<void> {
    if (this.#closing !== undefined) return;
    const topics = scope.kind === 'all' ? this.#topics : [scope.topic];
    if (topics === undefined) {
      this.log('error', 'all-topics scope needs the topic names in the engine context; ignored');
      return;
    }
    const ops: Promise<void>[] = [];
    for (const topic of topics) {
      const channel = this.channelOf(topic);
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
      onMessage: (message) => this.#receive(state, message),
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
        if (this.#closing !== undefined) return;
        if (state.refs > 0 && state.subId === undefined) {
          const subscribed = this.#pubsub.subscribe(state.channel, state.onMessage);
          state.subscribing = subscribed.then(
            () => {},
            () => {},
          );
          try {
            const subId = await subscribed;
            if (this.#closing !== undefined) {
              await this.#pubsub.unsubscribe(subId);
              return;
            }
            state.subId = subId;
            this.log('debug', 'broker channel subscribed', { channel: state.channel });
          } catch (error) {
            if (this.#closing !== undefined) return;
            this.log('error', 'broker subscribe failed; retrying', { channel: state.channel, error: String(error) });
            state.retry = setTimeout(() => {
              state.retry = undefined;
              this.#reconcile(state);
            }, 1000);
            state.retry.unref?.();
            return;
          } finally {
            state.subscribing = undefined;
          }
        } else if (state.refs === 0 && state.subId !== undefined) {
          const subId = state.subId;
          state.subId = undefined;
          try {
            await this.#pubsub.unsubscribe(subId);
            this.log('debug', 'broker channel released', { channel: state.channel });
          } catch (error) {
            this.log('warn', 'broker unsubscribe failed', { channel: state.channel, error: String(error) });
          }
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

  #receive(state: ChannelState, raw: unknown): void {
    const context = this.#context;
    if (context === undefined || this.#closing !== undefined) return;
    const decoded = decodeBridgeMessage(raw, this.#codec);
    if (!decoded.ok || decoded.message.event.topic !== state.topic) {
      this.#stats.malformed++;
      const reason = decoded.ok ? `topic ${JSON.stringify(decoded.message.event.topic)} on another topic's channel` : decoded.reason;
      this.log('warn', 'dropped malformed bridged message', { channel: state.channel, reason, sample: sampleOf(raw) });
      return;
    }
    const { origin, event } = decoded.message;
    if (!this.#recent.add(event.id)) {
      this.#stats.duplicates++;
      this.log('debug', 'dropped duplicate bridged event', { channel: state.channel, id: event.id, origin });
      return;
    }
    this.#stats.delivered++;
    if (origin === this.#instanceId) this.#stats.own++;
    try {
      context.deliver(event);
    } catch (error) {
      this.log('error', 'local delivery failed', { channel: state.channel, id: event.id, error: String(error) });
    }
  }

  async #close(): Promise<void> {
    this.brokerLost();
    const subscribed: number[] = [];
    for (const state of this.#channels.values()) {
      if (state.retry !== undefined) clearTimeout(state.retry);
      if (state.subId !== undefined) subscribed.push(state.subId);
      state.subId = undefined;
      state.refs = 0;
    }
    const pending = [...this.#channels.values()].map((s) => s.op);
    this.#channels.clear();
    for (const subId of subscribed) {
      try {
        await this.#pubsub.unsubscribe(subId);
      } catch (error) {
        this.log('debug', 'broker unsubscribe at close failed', { error: String(error) });
      }
    }
    try {
      await this.disconnect();
    } finally {
      // A subscribe still in flight unsubscribes itself if it completes (see #run); wait for it, boundedly.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      });
      await Promise.race([Promise.all(pending), bound]);
      clearTimeout(timer);
      this.#recent.clear();
    }
  }
}

/**
 * An engine over any `graphql-subscriptions` `PubSubEngine`: the in-memory
 * `PubSub` (several `createPubSub` instances of one process sharing it),
 * `RedisPubSub`, or a third-party engine. The broker must hand every
 * subscriber the payloads in publish order and round-trip strings.
 * @example
 * ```ts
 * import { PubSub } from 'graphql-subscriptions';
 * const engine = graphqlSubscriptionsEngine(new PubSub());
 * const pubsub = createPubSub({ topics, engine });
 * ```
 */
export function graphqlSubscriptionsEngine(pubsub: BrokerPubSub, options: BridgeEngineOptions = {}): BridgeEngine {
  return new BridgeEngine(pubsub, options);
}
