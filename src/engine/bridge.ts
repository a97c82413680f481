/**
 * An engine over any publish/subscribe broker with the
 * `graphql-subscriptions` calls: publishing (ids, framing, read-your-writes
 * gates), receiving (decoding, de-duplication) and the broker link's
 * health. Broker subscriptions are {@link BrokerChannels}'; a broker's own
 * connection handling is a {@link BrokerLink} handed in (composition, not
 * subclass hooks).
 * @module
 */
import { TRPCError } from '@trpc/server';
import { decodeBridgeMessage, encodeBridgeMessage, jsonCodec, sampleOf, type BridgeCodec } from './bridge-message.js';
import { BrokerChannels } from './broker-channels.js';
import { ID_PLACEHOLDER, type BrokerHistory } from './broker-history.js';
import type { BrokerLink, BrokerPubSub } from './broker-link.js';
import { commandTimeout, Deadlines, type Deadline } from './deadline.js';
import {
  HistoryNotSupportedError,
  type Engine,
  type EngineContext,
  type EnginePresence,
  type PresenceChange,
  type EngineHealth,
  type EventDraft,
  type HistoryPolicy,
  type HistoryRead,
  type PubSubEvent,
  type SubscriptionScope,
} from './engine.js';
import { formatEventId, sortablePosition } from './event-id.js';
import { channelName } from './engine.js';
import { PublishGates } from './publish-gates.js';
import { BrokerCatchUp } from './catch-up.js';
import { RecentIds } from './recent-ids.js';

export type { BrokerLink, BrokerLinkEvents, BrokerPubSub } from './broker-link.js';

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

/**
 * A broker's presence store, as a bridge engine carries it: started with
 * the engine (announcements arrive through the engine's subscribing
 * connection) and closed with it.
 */
export interface BridgePresence extends EnginePresence {
  start(deps: {
    announce(change: PresenceChange): void;
    subscribe: BrokerPubSub['subscribe'];
    unsubscribe: BrokerPubSub['unsubscribe'];
    log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
  }): void;
  close(): Promise<void>;
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
  /** The broker channel of a topic. @default `<prefix>:{<topic>}` */
  channelName?: (prefix: string, topic: string) => string;
  /** The broker's connection: connect, health, disconnect. @default a broker that is always connected */
  link?: BrokerLink;
  /**
   * Longest a publish, a history read or a check waits for the broker, in
   * ms; past it, it fails with a `CommandTimeoutError` (a publish: "maybe
   * published", `SERVICE_UNAVAILABLE` to its caller). `Infinity` for none.
   * @default DEFAULT_COMMAND_TIMEOUT_MS (5000)
   */
  commandTimeoutMs?: number;
  /**
   * Makes the broker's history, once started. Without it the engine keeps
   * none: `since` and `latest` throw {@link HistoryNotSupportedError}.
   */
  history?: (deps: { prefix: string; codec: BridgeCodec; policyOf: (topic: string) => HistoryPolicy | undefined }) => BrokerHistory;
  /** Where the broker keeps presence. Without it, each instance knows only its own members. */
  presence?: BridgePresence;
}

/** The default channel-name prefix. */
export const DEFAULT_PREFIX = 'trpc-pubsub';

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Longest `close()` waits for broker subscribes in flight. */
const CLOSE_WAIT_MS = 1000;
/** The link of a broker without a connection of its own (an in-process `PubSub`). */
const ALWAYS_CONNECTED: BrokerLink = { connect() {}, health: () => ({ status: 'ok' }), disconnect() {} };

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
 *
 * Ids are `<instance id>:<position>`, made by the publishing instance:
 * unique, but ordered only among one instance's publishes. History is not
 * kept yet: {@link since} and {@link latest} throw {@link HistoryNotSupportedError}.
 */
export class BridgeEngine implements Engine {
  /** Short name for logs and health. */
  readonly name: string;
  /** Channel-name prefix. */
  readonly prefix: string;
  /** Longest one publish, history read or check waits for the broker, in ms (see {@link BridgeEngineOptions.commandTimeoutMs}). */
  readonly commandTimeoutMs: number;
  /** Who is in each channel, shared through the broker (when it keeps presence). */
  readonly presence: BridgePresence | undefined;
  readonly #pubsub: BrokerPubSub;
  readonly #codec: BridgeCodec;
  readonly #maxMessageBytes: number | undefined;
  readonly #channelName: (prefix: string, topic: string) => string;
  readonly #link: BrokerLink;
  readonly #deadlines: Deadlines;
  readonly #makeHistory: BridgeEngineOptions['history'];
  #history: BrokerHistory | undefined;
  readonly #catchUp = new BrokerCatchUp({
    history: () => this.#history,
    context: () => this.#context,
    deliver: (event) => this.#deliver(event),
    log: (level, message, fields) => this.#log(level, message, fields),
  });
  readonly #channels: BrokerChannels;
  readonly #gates = new PublishGates();
  readonly #recent = new RecentIds();
  readonly #stats: BridgeStats = { published: 0, delivered: 0, own: 0, duplicates: 0, malformed: 0 };
  #context: EngineContext | undefined;
  #instanceId = '';
  #position = 0;
  #closing: Promise<void> | undefined;

  constructor(pubsub: BrokerPubSub, options: BridgeEngineOptions = {}) {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (!PREFIX_PATTERN.test(prefix)) throw new TypeError(`Invalid prefix ${JSON.stringify(prefix)}: 1-64 characters of [A-Za-z0-9_.:-]`);
    this.#pubsub = pubsub;
    this.name = options.name ?? 'graphql-subscriptions';
    this.prefix = prefix;
    this.#codec = options.codec ?? jsonCodec;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#channelName = options.channelName ?? ((p, topic) => `${p}:{${topic}}`);
    this.#link = options.link ?? ALWAYS_CONNECTED;
    this.commandTimeoutMs = commandTimeout(this.name, options.commandTimeoutMs);
    const link = this.#link;
    this.#deadlines = new Deadlines(this.commandTimeoutMs, { isTimeout: link.isTimeout === undefined ? undefined : (error) => link.isTimeout!(error) });
    this.#makeHistory = options.history;
    this.presence = options.presence;
    this.#channels = new BrokerChannels(pubsub, {
      log: (level, message, fields) => this.#log(level, message, fields),
      receive: (topic, channel, raw) => this.#receive(topic, channel, raw),
    });
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
   * The broker channel carrying `topic`'s events: `<prefix>:{<topic>}` by
   * default. The braces are a Redis Cluster hash tag, so the channel and
   * any later per-topic key (such as a history stream `<prefix>:{<topic>}:…`)
   * share one slot.
   */
  channelOf(topic: string): string {
    return this.#channelName(this.prefix, topic);
  }

  /** Broker channels currently subscribed. */
  brokerChannels(): string[] {
    return this.#channels.subscribed();
  }

  /** Resolves once every pending broker subscribe and unsubscribe has completed. */
  settled(): Promise<void> {
    return this.#channels.settled();
  }

  /** Takes the core's context (instance id, topic names) and connects the broker. */
  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    this.#instanceId = context.instanceId;
    this.#history = this.#makeHistory?.({ prefix: this.prefix, codec: this.#codec, policyOf: (topic) => context.history(topic) });
    this.presence?.start({
      announce: (change) => context.presence(change),
      subscribe: (trigger, onMessage) => this.#pubsub.subscribe(trigger, onMessage),
      unsubscribe: (id) => this.#pubsub.unsubscribe(id),
      log: (level, message, fields) => this.#log(level, message, fields),
    });
    await this.#link.connect({
      log: (level, message, fields) => this.#log(level, message, fields),
      lost: () => this.#brokerLost(),
      listenerLost: () => {
        if (this.#closing === undefined) this.#catchUp.lost(this.#channels.topics());
      },
      restored: () => {
        this.#channels.resync();
        void this.#catchUp.restored();
      },
    });
  }

  /**
   * Gives `event` its id and sends it to the broker; it reaches local
   * subscribers when the broker hands it back. Rejects at once while health
   * is degraded, and with a `CommandTimeoutError` when the broker has not
   * taken it within {@link commandTimeoutMs} (a publish still waiting its
   * turn then is never sent).
   */
  async publish(_channel: string, draft: EventDraft): Promise<PubSubEvent> {
    if (this.#closing !== undefined) throw new Error(`${this.name} engine is closed`);
    if (this.#context === undefined) throw new Error(`${this.name} engine is not started`);
    this.#assertHealthy();
    const event = draft as PubSubEvent;
    const channel = this.channelOf(event.topic);
    const policy = this.#history === undefined ? undefined : this.#context.history(event.topic);
    const history = policy === undefined ? undefined : this.#history;
    // With history, the broker gives the id (its position) as it appends and publishes; without, this instance does.
    event.id = history === undefined ? formatEventId(this.#instanceId, sortablePosition(++this.#position)) : ID_PLACEHOLDER;
    const text = this.#encode(event);
    await this.#deadlines.bound(`${this.name} publish`, (deadline) => {
      const send =
        history === undefined
          ? () => this.#send(channel, text, deadline)
          : () => this.#appendAndSend(history, channel, channelName(event.topic, event.key), event, text, policy!, deadline);
      return this.#gates.run(
        channel,
        this.#channels.subscribing(channel),
        () => {
          if (this.#closing !== undefined) throw new Error(`${this.name} engine is closed`);
          if (deadline.expired) throw new Error(`${this.name} publish expired while waiting for its turn`);
          this.#assertHealthy();
        },
        send,
      );
    });
    return event;
  }

  /** The history after `cursor`, when the broker keeps one (else `HistoryNotSupportedError`). */
  since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead> {
    const history = this.#history;
    if (history === undefined) return Promise.reject(new HistoryNotSupportedError(this.name));
    return this.#deadlines.bound(`${this.name} history read`, () => history.since(scope, cursor));
  }

  /** The newest `n` events, when the broker keeps a history (else `HistoryNotSupportedError`). */
  latest(scope: SubscriptionScope, n: number): Promise<HistoryRead> {
    const history = this.#history;
    if (history === undefined) return Promise.reject(new HistoryNotSupportedError(this.name));
    return this.#deadlines.bound(`${this.name} history read`, () => history.latest(scope, n));
  }

  /** Subscribes the broker channels of `scope` (one topic, or every topic) if this is their first local scope. */
  async listen(scope: SubscriptionScope): Promise<void> {
    const channels = this.#channelsOf(scope);
    await this.#channels.change(channels, +1);
    await Promise.all(channels.map(([topic]) => this.#catchUp.listening(topic)));
  }

  /** Releases the broker channels of `scope` that no other local scope needs. */
  unlisten(scope: SubscriptionScope): Promise<void> {
    return this.#channels.change(this.#channelsOf(scope), -1);
  }

  /** `degraded` while the broker is unreachable (and after `close`). */
  health(): EngineHealth {
    if (this.#closing !== undefined) return { status: 'degraded', detail: `${this.name} engine closed` };
    return this.#link.health();
  }

  /**
   * One round trip on each broker connection (the link's check), bounded by
   * {@link commandTimeoutMs}: `ok`, or `degraded` with the cause. Never
   * rejects. While {@link health} is degraded (or without a link check), it
   * is that health, at once.
   */
  async check(): Promise<EngineHealth> {
    const health = this.health();
    const link = this.#link;
    if (health.status !== 'ok' || link.check === undefined) return health;
    try {
      // The link runs each round trip through `within`, so that a timeout names the connection that did not answer.
      return await link.check(this.#deadlines.bound);
    } catch (error) {
      return { status: 'degraded', detail: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Releases every broker subscription, then the broker connection. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.#context?.log(level, message, { engine: this.name, ...fields });
  }

  #channelsOf(scope: SubscriptionScope): [string, string][] {
    const topics = scope.kind === 'all' ? (this.#context?.topics ?? []) : [scope.topic];
    return topics.map((topic) => [topic, this.channelOf(topic)]);
  }

  /** Publishes waiting for a subscription in flight stop waiting (and fail while health is degraded). */
  #brokerLost(): void {
    this.#gates.releaseAll();
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

  async #appendAndSend(
    history: BrokerHistory,
    brokerChannel: string,
    channel: string,
    event: PubSubEvent,
    text: string,
    policy: HistoryPolicy,
    deadline: Deadline,
  ): Promise<void> {
    this.#stats.published++;
    event.id = await history.append(brokerChannel, event, channel, text, policy, deadline);
  }

  #send(channel: string, text: string, deadline: Deadline): Promise<void> {
    this.#stats.published++;
    return this.#pubsub.publish(channel, text, deadline);
  }

  #receive(topic: string, channel: string, raw: unknown): void {
    const context = this.#context;
    if (context === undefined || this.#closing !== undefined) return;
    const decoded = decodeBridgeMessage(raw, this.#codec);
    if (!decoded.ok || decoded.message.event.topic !== topic) {
      this.#stats.malformed++;
      const reason = decoded.ok ? `topic ${JSON.stringify(decoded.message.event.topic)} on another topic's channel` : decoded.reason;
      // No payload above debug: the warning says what and why, the sample goes to debug.
      this.#log('warn', 'dropped malformed bridged message', { channel, reason, bytes: typeof raw === 'string' ? raw.length : undefined });
      this.#log('debug', 'malformed bridged message sample', { channel, sample: sampleOf(raw) });
      return;
    }
    const { origin, event } = decoded.message;
    if (this.#catchUp.hold(event)) return;
    if (this.#deliver(event) && origin === this.#instanceId) this.#stats.own++;
  }

  /**
   * Delivers `event` locally, once: an id seen again (a catch-up overlapping
   * live events, a broker echo) is dropped. Returns whether it was delivered.
   */
  #deliver(event: PubSubEvent): boolean {
    const context = this.#context;
    if (context === undefined || this.#closing !== undefined) return false;
    if (!this.#recent.add(event.id)) {
      this.#stats.duplicates++;
      this.#log('debug', 'dropped duplicate bridged event', { topic: event.topic, id: event.id });
      return false;
    }
    this.#stats.delivered++;
    this.#catchUp.seen(event);
    try {
      context.deliver(event);
    } catch (error) {
      this.#log('error', 'local delivery failed', { topic: event.topic, id: event.id, error: String(error) });
    }
    return true;
  }

  async #close(): Promise<void> {
    this.#brokerLost();
    await this.presence?.close();
    const { pending } = await this.#channels.close();
    try {
      await this.#link.disconnect();
    } finally {
      // A subscribe still in flight unsubscribes itself if it completes; wait for it, boundedly.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      });
      await Promise.race([pending, bound]);
      clearTimeout(timer);
      this.#deadlines.close();
      this.#recent.clear();
      this.#catchUp.clear();
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
