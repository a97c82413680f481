import type { Client, Notification, Pool, PoolClient } from 'pg';
import { pg } from './postgres-peer.js';
import type { BrokerPubSub } from './broker-link.js';
import type { Deadline, Within } from './deadline.js';
import type { EngineHealth } from './engine.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** A connection that can `LISTEN`: a `pg.Client` of ours, or one checked out of a pool. */
type ListenClient = Client | PoolClient;

/** Options of {@link PostgresPubSub}. */
export interface PostgresPubSubOptions {
  /** Where notifications are sent from (`pg_notify`), and where the listening connection comes from unless `connectionString` is given. */
  pool: Pool;
  /** The listening connection is a dedicated `pg.Client` on this, when given; else it is checked out of `pool` and held. */
  connectionString?: string | undefined;
  /** Reconnect backoff of the listening connection, in ms. @default { min: 100, max: 2000 } */
  reconnectDelayMs?: { min: number; max: number } | undefined;
  /**
   * The connection and query timeout (`connectionTimeoutMillis`,
   * `query_timeout`) of the listening connection made from
   * `connectionString`, in ms; `Infinity` for none. A listening connection
   * from `pool` has the pool's.
   * @default Infinity
   */
  commandTimeoutMs?: number | undefined;
}

/**
 * Whether `error` is one of `pg`'s timeouts (`query_timeout`, a connection
 * or pool-checkout timeout) or PostgreSQL's `statement_timeout`: the broker
 * did not answer in time, which is not to say it did nothing.
 */
export function isPostgresTimeout(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if ((error as { code?: unknown }).code === '57014') return /statement timeout/.test(error.message);
  return (
    error.message === 'Query read timeout' ||
    error.message === 'timeout exceeded when trying to connect' ||
    error.message.startsWith('Connection terminated due to connection timeout')
  );
}

/**
 * A `graphql-subscriptions`-style pub/sub over PostgreSQL `LISTEN`/`NOTIFY`
 * on `pg`: one held connection listens (reconnected with backoff and
 * re-`LISTEN`ed after a loss), notifications are sent through the pool.
 * Publishes on one channel go out one after the other, so they keep their
 * order. Payloads must be strings under 8000 bytes (PostgreSQL's limit).
 */
export class PostgresPubSub implements BrokerPubSub {
  readonly #pool: Pool;
  readonly #connectionString: string | undefined;
  readonly #delay: { min: number; max: number };
  readonly #timeoutMs: number | undefined;
  readonly #subscriptions = new Map<number, { channel: string; onMessage: (message: unknown) => void }>();
  readonly #byChannel = new Map<string, Set<number>>();
  readonly #publishTails = new Map<string, Promise<unknown>>();
  readonly #readyWaiters = new Set<() => void>();
  #log: Log = () => {};
  #onLost: () => void = () => {};
  #onListening: () => void = () => {};
  #nextId = 1;
  #listener: ListenClient | undefined;
  #listened = new Set<string>();
  #ready = false;
  #lastError: string | undefined;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #syncChain: Promise<void> = Promise.resolve();
  #started = false;
  #closed = false;

  constructor(options: PostgresPubSubOptions) {
    this.#pool = options.pool;
    this.#connectionString = options.connectionString;
    this.#delay = options.reconnectDelayMs ?? { min: 100, max: 2000 };
    this.#timeoutMs = options.commandTimeoutMs === undefined || options.commandTimeoutMs === Infinity ? undefined : options.commandTimeoutMs;
  }

  /**
   * Opens the listening connection; resolves once it listens, or after its
   * first failure (it keeps retrying). `onLost` is called each time the
   * listening connection is lost, `onListening` each time it listens (again).
   */
  start(log: Log, onLost: () => void = () => {}, onListening: () => void = () => {}): Promise<void> {
    this.#log = log;
    this.#onLost = onLost;
    this.#onListening = onListening;
    if (this.#started) return Promise.resolve();
    this.#started = true;
    return this.#connect();
  }

  /** `ok` while the listening connection is up and listening. */
  health(): EngineHealth {
    if (this.#ready) return { status: 'ok' };
    return { status: 'degraded', detail: `postgres listener ${this.#closed ? 'closed' : 'reconnecting'}${this.#lastError === undefined ? '' : ` (${this.#lastError})`}` };
  }

  /**
   * `SELECT 1` through the pool and on the listening connection, at once,
   * each bounded by `within`: `ok` when both answered, else `degraded`
   * naming the one(s) that did not; while not listening, {@link health}.
   */
  async check(within: Within): Promise<EngineHealth> {
    const listener = this.#listener;
    if (!this.#ready || listener === undefined) return this.health();
    const failed = (error: unknown) => (error instanceof Error ? error.message : String(error));
    const causes = await Promise.all([
      within('postgres pool SELECT 1', () => this.#pool.query('SELECT 1')).then(() => undefined, failed),
      within('postgres listener SELECT 1', () => listener.query('SELECT 1')).then(() => undefined, failed),
    ]);
    const detail = causes.filter((cause) => cause !== undefined).join('; ');
    return detail === '' ? { status: 'ok' } : { status: 'degraded', detail };
  }

  /** Channels the listening connection listens to now. */
  listening(): string[] {
    return [...this.#listened];
  }

  /** The backend process id of the listening connection (for tests that cut it). */
  get listenerPid(): number | undefined {
    return (this.#listener as { processID?: number } | undefined)?.processID;
  }

  /** Sends `payload` on `channel` through the pool, after the publishes before it on the channel (unless `deadline` expired meanwhile). */
  publish(channel: string, payload: unknown, deadline?: Deadline): Promise<void> {
    if (typeof payload !== 'string') return Promise.reject(new TypeError('PostgresPubSub publishes strings'));
    const previous = this.#publishTails.get(channel) ?? Promise.resolve();
    const sent = previous
      .then(() => {
        if (deadline?.expired === true) throw new Error('postgres publish expired while waiting for its turn');
        return this.#pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
      })
      .then(() => {});
    const tail = sent.catch(() => {});
    this.#publishTails.set(channel, tail);
    void tail.then(() => {
      if (this.#publishTails.get(channel) === tail) this.#publishTails.delete(channel);
    });
    return sent;
  }

  async subscribe(channel: string, onMessage: (message: unknown) => void): Promise<number> {
    if (this.#closed) throw new Error('PostgresPubSub is closed');
    const id = this.#nextId++;
    this.#subscriptions.set(id, { channel, onMessage });
    let ids = this.#byChannel.get(channel);
    if (ids === undefined) {
      ids = new Set();
      this.#byChannel.set(channel, ids);
    }
    ids.add(id);
    await this.#sync();
    // Not listening yet (connection down): the reconnect listens to it; wait for that.
    while (!this.#closed && this.#subscriptions.has(id) && !this.#listened.has(channel)) await this.#whenReady();
    return id;
  }

  unsubscribe(subId: number): Promise<void> {
    const subscription = this.#subscriptions.get(subId);
    if (subscription === undefined) return Promise.resolve();
    this.#subscriptions.delete(subId);
    const ids = this.#byChannel.get(subscription.channel);
    ids?.delete(subId);
    if (ids?.size === 0) this.#byChannel.delete(subscription.channel);
    return this.#sync();
  }

  /** Stops listening and releases the listening connection (not the pool). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#flush(this.#readyWaiters);
    const listener = this.#listener;
    this.#listener = undefined;
    this.#subscriptions.clear();
    this.#byChannel.clear();
    this.#listened = new Set();
    await this.#syncChain;
    if (listener !== undefined) await this.#dispose(listener, undefined);
    await Promise.all(this.#publishTails.values());
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    let client: ListenClient;
    try {
      client = await this.#open();
    } catch (error) {
      this.#failed(error);
      return;
    }
    if (this.#closed) {
      await this.#dispose(client, undefined);
      return;
    }
    client.on('notification', (message: Notification) => this.#notification(message));
    client.on('error', (error: Error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('connection ended')));
    this.#listener = client;
    this.#listened = new Set();
    await this.#sync();
    if (this.#listener !== client) return;
    this.#ready = true;
    if (this.#attempt > 0 || this.#lastError !== undefined) this.#log('info', 'postgres listener connected again');
    this.#attempt = 0;
    this.#lastError = undefined;
    this.#flush(this.#readyWaiters);
    this.#onListening();
  }

  async #open(): Promise<ListenClient> {
    if (this.#connectionString === undefined) return this.#pool.connect();
    const timeouts = this.#timeoutMs === undefined ? {} : { connectionTimeoutMillis: this.#timeoutMs, query_timeout: this.#timeoutMs };
    const client = new pg.Client({ connectionString: this.#connectionString, keepAlive: true, ...timeouts });
    client.on('error', () => {}); // until connected; errors then go to #lost
    await client.connect().catch(async (error: unknown) => {
      await client.end().catch(() => {});
      throw error;
    });
    return client;
  }

  #failed(error: unknown): void {
    this.#lastError = error instanceof Error ? error.message : String(error);
    this.#log(this.#attempt === 0 ? 'warn' : 'debug', 'postgres listener cannot connect; retrying', { error: this.#lastError });
    this.#schedule();
  }

  #lost(client: ListenClient, error: Error): void {
    if (this.#listener !== client) return;
    this.#listener = undefined;
    this.#listened = new Set();
    this.#ready = false;
    this.#lastError = error.message;
    this.#log('warn', 'postgres listener connection lost', { error: error.message });
    this.#onLost();
    void this.#dispose(client, error);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const delay = Math.min(this.#delay.max, this.#delay.min * 2 ** this.#attempt);
    this.#attempt++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
  }

  async #dispose(client: ListenClient, error: Error | undefined): Promise<void> {
    client.removeAllListeners('notification');
    client.on('error', () => {});
    if ('release' in client && this.#connectionString === undefined) {
      client.release(error ?? true);
      return;
    }
    await (client as Client).end().catch(() => {});
  }

  #notification(message: Notification): void {
    const ids = this.#byChannel.get(message.channel);
    if (ids === undefined) return;
    for (const id of ids) this.#subscriptions.get(id)?.onMessage(message.payload ?? '');
  }

  /** Brings the listener's `LISTEN`s in line with the subscribed channels; runs one at a time. */
  #sync(): Promise<void> {
    const run = this.#syncChain.then(() => this.#syncOnce());
    this.#syncChain = run;
    return run;
  }

  async #syncOnce(): Promise<void> {
    const client = this.#listener;
    if (client === undefined || this.#closed) return;
    try {
      for (const channel of this.#byChannel.keys()) {
        if (this.#listened.has(channel)) continue;
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        if (this.#listener !== client) return;
        this.#listened.add(channel);
      }
      for (const channel of [...this.#listened]) {
        if (this.#byChannel.has(channel)) continue;
        this.#listened.delete(channel);
        await client.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`);
      }
    } catch (error) {
      // The connection broke (#lost reconnects and listens again), or the command timed out: whether it listens
      // is unknown, so it is treated as lost too (else a subscribe would wait for a LISTEN that never comes).
      this.#log('debug', 'postgres LISTEN/UNLISTEN failed', { error: String(error) });
      this.#lost(client, error instanceof Error ? error : new Error(String(error)));
    }
  }

  #whenReady(): Promise<void> {
    if (this.#ready || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.add(resolve));
  }

  #flush(waiters: Set<() => void>): void {
    for (const resolve of waiters) resolve();
    waiters.clear();
  }
}
