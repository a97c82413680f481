/**
 * The core's side of the engine seam: starts the engine, turns the channel
 * index's activity into `listen`/`unlisten` (remembering each broker
 * subscription while it is in flight, so that a subscription counts as
 * started only once it is effective), publishes, reads history for resume,
 * and turns engine failures into `TRPCError`s and logs. Never lets an engine
 * failure escape as an unhandled rejection.
 *
 * Stalls: an engine that declares `commandTimeoutMs` bounds its own calls;
 * for one that does not (an engine the app wrote), publishes, history reads
 * and checks are bounded here by {@link DEFAULT_COMMAND_TIMEOUT_MS}, through
 * one shared timer ({@link Deadlines}), never one per call. A call that
 * timed out marks the engine stalled: `health()` is `degraded` with the
 * cause until a call succeeds again (a publish, a history read, a check;
 * while stalled, the engine's check runs every {@link STALL_PROBE_MS}).
 * @module
 */
import { TRPCError } from '@trpc/server';
import type { ChannelKey, PubSubEvent } from '../../client/protocol.js';
import type { Engine, EngineContext, EngineHealth, EventDraft, HistoryRead } from '../engine/engine.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, Deadlines, HISTORY_NOT_SUPPORTED, isCommandTimeout } from '../engine/engine.js';
import type { Logger } from './logger.js';
import { channelName, scopeName, type SubscriptionScope } from './scope.js';
import type { HistoryPolicy } from './topics.js';

/** What the core needs to start an engine. */
export interface EngineLinkOptions {
  readonly engine: Engine;
  readonly logger: Logger;
  readonly instanceId: string;
  readonly topics: readonly string[];
  readonly history: (topic: string) => HistoryPolicy | undefined;
  readonly deliver: (event: PubSubEvent) => void;
  readonly gap: EngineContext['gap'];
  readonly presence: EngineContext['presence'];
}

/** Waits between the attempts of a failing history read (about 5 s in all), before it is `SERVICE_UNAVAILABLE`. */
export const HISTORY_READ_RETRIES_MS: readonly number[] = [100, 200, 400, 800, 1600, 2000];

/** While the engine is stalled (a call timed out, none answered since), how often its `check()` runs to see it answer again. */
export const STALL_PROBE_MS = 1000;
/** How much longer than its command timeout the core waits for an engine's own `check()` before calling it degraded. */
const CHECK_GRACE_MS = 250;

/** A history read, or `unsupported` when the engine keeps none. */
export type EngineRead = HistoryRead | { readonly ok: false; readonly reason: 'unsupported'; readonly cursor: undefined };

/** The engine as the core drives it. */
export class EngineLink {
  readonly engine: Engine;
  readonly #logger: Logger;
  /** Broker subscriptions in flight, by scope name (resolve when effective, never reject). */
  readonly #listening = new Map<string, Promise<void>>();
  readonly #started: Promise<void> | undefined;
  /** The core's deadline on publishes and history reads, for an engine that does not bound its own calls. */
  readonly #net: Deadlines | undefined;
  /** Why the engine is stalled (a call timed out, none answered since), else `undefined`. */
  #stalled: string | undefined;
  /** The next check while stalled. */
  #probe: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(options: EngineLinkOptions) {
    this.engine = options.engine;
    this.#logger = options.logger;
    this.#net = options.engine.commandTimeoutMs === undefined ? new Deadlines(DEFAULT_COMMAND_TIMEOUT_MS) : undefined;
    const started = this.#call(
      () =>
        this.engine.start({
          deliver: options.deliver,
          log: (level, message, fields) => this.#logger[level](message, fields),
          instanceId: options.instanceId,
          topics: options.topics,
          history: options.history,
          gap: options.gap,
          presence: options.presence,
        }),
      'start',
    );
    this.#started = started;
  }

  /** Resolves once the engine has started (at once for a synchronous start); never rejects. */
  ready(): Promise<void> {
    return this.#started ?? Promise.resolve();
  }

  /** The scope has its first local subscriber: the engine starts listening. */
  listen(scope: SubscriptionScope): void {
    const pending = this.#call(() => this.engine.listen(scope), 'listen', scope);
    if (pending === undefined) return;
    const name = scopeName(scope);
    this.#listening.set(name, pending);
    void pending.finally(() => {
      if (this.#listening.get(name) === pending) this.#listening.delete(name);
    });
  }

  /** The scope has no local subscriber any more. */
  unlisten(scope: SubscriptionScope): void {
    void this.#call(() => this.engine.unlisten(scope), 'unlisten', scope);
  }

  /** The engine's broker subscription for `scope` while it is in flight (never rejects), else `undefined`. */
  whenListening(scope: SubscriptionScope): Promise<void> | undefined {
    return this.#listening.size === 0 ? undefined : this.#listening.get(scopeName(scope));
  }

  /**
   * Publishes through the engine; a broker failure is `SERVICE_UNAVAILABLE`
   * (a `TRPCError` from the engine stays as it is), a timeout too, with a
   * message saying the event may still be published.
   */
  async publish(draft: EventDraft, key: ChannelKey | undefined): Promise<PubSubEvent> {
    const channel = channelName(draft.topic, key);
    try {
      const event = await (this.#net === undefined
        ? this.engine.publish(channel, draft)
        : this.#net.bound(`${this.engine.name} publish`, () => this.engine.publish(channel, draft)));
      this.#answered();
      return event;
    } catch (error) {
      if (error instanceof TRPCError) throw error;
      const timedOut = isCommandTimeout(error);
      if (timedOut) this.#stall(error.message);
      throw new TRPCError({
        code: 'SERVICE_UNAVAILABLE',
        message: timedOut
          ? `Could not publish on "${channel}": ${error.message}; it may still be published`
          : `Could not publish on "${channel}": ${this.engine.name} engine unavailable`,
        cause: error,
      });
    }
  }

  /** The history of `scope` after `cursor`; `unsupported` when the engine keeps none; `SERVICE_UNAVAILABLE` when it cannot be read. */
  async since(scope: SubscriptionScope, cursor: string): Promise<EngineRead> {
    return (await this.#readHistory(scope, () => this.engine.since(scope, cursor))) ?? { ok: false, reason: 'unsupported', cursor: undefined };
  }

  /** The newest `n` events of `scope` and the history's head; none (head unknown) when the engine keeps no history; `SERVICE_UNAVAILABLE` when it cannot be read. */
  async latest(scope: SubscriptionScope, n: number): Promise<{ events: readonly PubSubEvent[]; cursor: string | undefined }> {
    const read = await this.#readHistory(scope, () => this.engine.latest(scope, n));
    return read?.ok === true ? read : { events: [], cursor: undefined };
  }

  /** Engine health as last seen; `degraded` while the engine is stalled (a call timed out and none answered since). */
  health(): EngineHealth {
    const health = this.engine.health();
    if (health.status !== 'ok' || this.#stalled === undefined) return health;
    return { status: 'degraded', detail: `${this.#stalled}; no answer since` };
  }

  /**
   * One round trip to the broker: the engine's `check()` (bounded, never
   * rejects), else its `health()`. `ok` ends a stall; `degraded` while
   * `health()` says `ok` starts one, so `health()` shows it too.
   */
  async check(): Promise<EngineHealth> {
    const engine = this.engine;
    if (engine.check === undefined || this.#closed) return this.health();
    const result = await this.#bounded(engine, engine.check.bind(engine));
    if (result.status === 'ok') {
      this.#answered();
    } else if (engine.health().status === 'ok' && !this.#closed) {
      this.#stall(result.detail ?? `${engine.name} check failed`);
    }
    return result;
  }

  /** Closes the engine (history reads stop retrying, the stall probe stops). */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#probe !== undefined) clearTimeout(this.#probe);
    this.#probe = undefined;
    this.#net?.close();
    return this.engine.close();
  }

  /**
   * Runs a history read: `undefined` when the engine keeps no history,
   * `SERVICE_UNAVAILABLE` when it still fails after {@link HISTORY_READ_RETRIES_MS}
   * (a broker restarting or failing over comes back within seconds, and a
   * resuming subscriber should not lose its place over it).
   */
  async #readHistory(scope: SubscriptionScope, read: () => Promise<HistoryRead>): Promise<HistoryRead | undefined> {
    const bounded = this.#net === undefined ? read : () => this.#net!.bound(`${this.engine.name} history read`, read);
    for (let attempt = 0; ; attempt++) {
      try {
        const found = await bounded();
        this.#answered();
        return found;
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code === HISTORY_NOT_SUPPORTED) return undefined;
        if (isCommandTimeout(error)) this.#stall(error.message);
        const delay = HISTORY_READ_RETRIES_MS[attempt];
        if (delay !== undefined && !this.#closed) {
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
        throw new TRPCError({
        code: 'SERVICE_UNAVAILABLE',
          message: `Could not read the history of "${scopeName(scope)}": ${this.engine.name} engine unavailable`,
          cause: error,
        });
      }
    }
  }

  /**
   * The engine's check, as a promise that never rejects and settles within
   * the engine's command timeout (a little more, so that the engine's own
   * detail wins; the default one for an engine without).
   */
  #bounded(engine: Engine, check: () => Promise<EngineHealth>): Promise<EngineHealth> {
    const declared = engine.commandTimeoutMs;
    const limitMs = (declared === undefined || declared === Infinity ? DEFAULT_COMMAND_TIMEOUT_MS : declared) + CHECK_GRACE_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<EngineHealth>((resolve) => {
      timer = setTimeout(() => resolve({ status: 'degraded', detail: `${engine.name} check got no answer within ${limitMs} ms` }), limitMs);
    });
    const checked = Promise.resolve()
      .then(check)
      .then(
        (health) => health,
        (error: unknown): EngineHealth => ({ status: 'degraded', detail: `${engine.name} check failed: ${String(error)}` }),
      );
    return Promise.race([checked, late]).finally(() => clearTimeout(timer));
  }

  /** A call timed out: the engine is stalled until one answers (its check, run every {@link STALL_PROBE_MS}, included). */
  #stall(cause: string): void {
    if (this.#closed) return;
    if (this.#stalled === undefined) this.#logger.warn('engine stalled: a broker call got no answer in time', { engine: this.engine.name, cause });
    this.#stalled = cause;
    if (this.#probe !== undefined || this.engine.check === undefined) return;
    this.#probe = setTimeout(() => {
      void this.check().finally(() => {
        this.#probe = undefined;
        if (this.#stalled !== undefined) this.#stall(this.#stalled);
      });
    }, STALL_PROBE_MS);
    this.#probe.unref?.();
  }

  /** A call succeeded: the stall, if any, is over. */
  #answered(): void {
    if (this.#stalled === undefined) return;
    this.#logger.info('engine answers again', { engine: this.engine.name, stalled: this.#stalled });
    this.#stalled = undefined;
  }

  /** Runs an engine call, logging (never throwing) its failure; a promise that never rejects when the call was asynchronous. */
  #call(call: () => void | Promise<void>, what: string, scope?: SubscriptionScope): Promise<void> | undefined {
    const fail = (error: unknown) =>
      this.#logger.error(`engine ${what} failed`, { engine: this.engine.name, scope: scope && scopeName(scope), error: String(error) });
    try {
      const result = call();
      return result instanceof Promise ? result.then(() => undefined, fail) : undefined;
    } catch (error) {
      fail(error);
      return undefined;
    }
  }
}
