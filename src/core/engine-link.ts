/**
 * The core's side of the engine seam: starts the engine, turns the channel
 * index's activity into `listen`/`unlisten` (remembering each broker
 * subscription while it is in flight, so that a subscription counts as
 * started only once it is effective), publishes, reads history for resume,
 * and turns engine failures into `TRPCError`s and logs. Never lets an engine
 * failure escape as an unhandled rejection.
 * @module
 */
import { TRPCError } from '@trpc/server';
import type { ChannelKey, PubSubEvent } from '../../client/protocol.js';
import type { Engine, EngineContext, EngineHealth, EventDraft, HistoryRead } from '../engine/engine.js';
import { HISTORY_NOT_SUPPORTED } from '../engine/engine.js';
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
}

/** Waits between the attempts of a failing history read (about 5 s in all), before it is `SERVICE_UNAVAILABLE`. */
export const HISTORY_READ_RETRIES_MS: readonly number[] = [100, 200, 400, 800, 1600, 2000];

/** A history read, or `unsupported` when the engine keeps none. */
export type EngineRead = HistoryRead | { readonly ok: false; readonly reason: 'unsupported'; readonly cursor: undefined };

/** The engine as the core drives it. */
export class EngineLink {
  readonly engine: Engine;
  readonly #logger: Logger;
  /** Broker subscriptions in flight, by scope name (resolve when effective, never reject). */
  readonly #listening = new Map<string, Promise<void>>();
  readonly #started: Promise<void> | undefined;
  #closed = false;

  constructor(options: EngineLinkOptions) {
    this.engine = options.engine;
    this.#logger = options.logger;
    const started = this.#call(
      () =>
        this.engine.start({
          deliver: options.deliver,
          log: (level, message, fields) => this.#logger[level](message, fields),
          instanceId: options.instanceId,
          topics: options.topics,
          history: options.history,
          gap: options.gap,
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

  /** Publishes through the engine; a broker failure is `SERVICE_UNAVAILABLE` (a `TRPCError` from the engine stays as it is). */
  async publish(draft: EventDraft, key: ChannelKey | undefined): Promise<PubSubEvent> {
    const channel = channelName(draft.topic, key);
    try {
      return await this.engine.publish(channel, draft);
    } catch (error) {
      if (error instanceof TRPCError) throw error;
      throw new TRPCError({
        code: 'SERVICE_UNAVAILABLE',
        message: `Could not publish on "${channel}": ${this.engine.name} engine unavailable`,
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

  /** Engine health. */
  health(): EngineHealth {
    return this.engine.health();
  }

  /** Closes the engine (history reads stop retrying). */
  close(): Promise<void> {
    this.#closed = true;
    return this.engine.close();
  }

  /**
   * Runs a history read: `undefined` when the engine keeps no history,
   * `SERVICE_UNAVAILABLE` when it still fails after {@link HISTORY_READ_RETRIES_MS}
   * (a broker restarting or failing over comes back within seconds, and a
   * resuming subscriber should not lose its place over it).
   */
  async #readHistory(scope: SubscriptionScope, read: () => Promise<HistoryRead>): Promise<HistoryRead | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await read();
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code === HISTORY_NOT_SUPPORTED) return undefined;
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
