/**
 * One client socket speaking the tRPC v11 WebSocket protocol: reads frames,
 * runs procedures through tRPC's `callTRPCProcedure` (as the stock adapter
 * does), serves topic subscriptions on the fast path ({@link TopicSink}),
 * writes answers, and keeps the connection's lifecycle and subscriptions.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { callTRPCProcedure, getTRPCErrorFromUnknown, TRPCError, type AnyTRPCRouter, type TRPCProcedureType } from '@trpc/server';
import type { TRPCClientOutgoingMessage, TRPCResponseMessage } from '@trpc/server/rpc';
import type { WebSocket } from 'ws';
import { CloseCode, PING, PONG } from '../../../client/protocol.js';
import type { Logger } from '../../core/logger.js';
import type { TransportCounters } from '../../core/metrics.js';
import { isSubscriptionRequest, type SubscriptionRequest } from '../../core/subscription-request.js';
import { ABNORMAL_CLOSURE, closeCodeOfWsError } from './close-codes.js';
import type { FramePool } from './frame-pool.js';
import { isIterableResult, iterateResult } from './iterate.js';
import { decodeFrame, inputWithLastEventId, parseConnectionParams, requestIdOf, wantsConnectionParams } from './messages.js';
import type { CreateContextOptions, RateLimit } from './options.js';
import { msUntil, refilled } from './token-bucket.js';
import { errorShapeOf, reportError, sendResponse, type OnErrorHook } from './respond.js';
import { tableDelete, tableEntries, tableGet, tableSet, tableSize, type RequestId, type SubscriptionTable } from './subscription-table.js';
import { TopicSink, type SinkConnection } from './topic-sink.js';
import type { RouterConfig } from './trpc-config.js';
import type { CoalescedSocket, WriteCoalescer } from './write-coalescer.js';

const OPEN = 1;

/**
 * Where a connection stands, as `ws` numbers its `readyState`: `CONNECTING`
 * until its context is made (after `connectionParams`, when announced),
 * `OPEN`, `CLOSING` once the server decided to close it, `CLOSED` once the
 * socket closed and every subscription was released.
 */
export const ConnectionState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
/** One of {@link ConnectionState}'s values. */
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** Everything a {@link Connection} shares with its server (one object per server). */
export interface ConnectionDeps {
  router: AnyTRPCRouter;
  /** The router's config (transformer, error formatter), read once by the server. */
  config: RouterConfig;
  createContext: ((opts: CreateContextOptions) => unknown) | undefined;
  framePool: FramePool;
  logger: Logger;
  maxSubscriptions: number;
  maxBatchSize: number;
  /** The output budget: most bytes waiting in the socket before the connection is closed with 4429. */
  maxBufferedBytes: number;
  /** The per-connection request bucket; `undefined` when off. */
  rateLimit: RateLimit | undefined;
  /** What the transport counts (refusals, closes, drops). */
  counters: TransportCounters;
  /** When a connection's session ends, from its context (ms since the epoch). */
  sessionExpiresAt: ((ctx: unknown) => Date | number | undefined) | undefined;
  coalescer: WriteCoalescer;
  /** Called once when the socket has closed and every subscription is released. */
  onClosed: (connection: Connection, code: number, reason: Buffer) => void;
  onError: OnErrorHook | undefined;
}

type ContextResult = { ok: true } | { ok: false; error: TRPCError };

const kConnection = Symbol('trpc-pubsub.connection');
type SocketWithConnection = WebSocket & { [kConnection]: Connection };
/** The context of a server without `createContext`: ready at once, shared. */
const CONTEXT_READY: Promise<ContextResult> = Promise.resolve({ ok: true });
/**
 * How long a refused connection stays open for requests that may still
 * come (each is answered with the refusal) when none came yet.
 */
const REFUSAL_LINGER_MS = 250;
/** Longest delay `setTimeout` takes (about 24.8 days); a session ending later is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A subscription being set up, or one of the application's own
 * subscriptions being iterated. A topic subscription is replaced in the
 * table by its {@link TopicSink} once it is served from the index, so an
 * idle topic subscription holds no AbortController.
 */
class RunningSubscription {
  /** Aborts the set-up or the iteration. */
  readonly abort = new AbortController();

  constructor(readonly id: RequestId) {}

  /** Aborts it; safe to call twice. */
  stop(): void {
    this.abort.abort();
  }
}

/** A connection the request limit paused (see `Connection.#paused`). */
interface PausedReading {
  /** Messages `ws` emitted after the pause, in order. */
  held: { data: Buffer; isBinary: boolean }[];
  /** Reads them once the bucket holds a token again. */
  timer: NodeJS.Timeout | undefined;
}

/** What a connection's subscription table holds. */
type Subscription = RunningSubscription | TopicSink;

/** One client socket (see the module comment). */
export class Connection implements CoalescedSocket, SinkConnection {
  /** {@link WriteCoalescer} state: the loop turn of the last write. */
  lastTurn = -1;
  /** {@link WriteCoalescer} state: whether the socket is corked until the turn ends. */
  corked = false;
  /**
   * {@link KeepAlive} ticks since the last message from the client (a small
   * integer: no timestamp, which V8 would box, per connection).
   */
  quietTicks = 0;
  /** The client's IP as the connection caps count it (set by the server). */
  clientIp = '';

  #state: ConnectionState = ConnectionState.CONNECTING;
  #subscriptions: SubscriptionTable<Subscription> = undefined;
  /** The upgrade request, kept only until the context is created. */
  #req: IncomingMessage | undefined;
  /** Aborts queries and mutations in flight when the socket closes; made on first use. */
  #closed: AbortController | undefined;
  #ctx: unknown;
  #ctxPromise: Promise<ContextResult> | undefined;
  /**
   * The close code the server sent when it closed the connection itself
   * (slow consumer, or `ws` refusing a frame: 1009 too big, 1002, 1007…):
   * reported instead of 1006 when the peer's answer never arrives.
   */
  #closeSent: number | undefined;
  /** Request tokens left (negative: a debt the client ran up past the limit), as of {@link #tokensAt}. */
  #tokens: number;
  /** When {@link #tokens} was last brought up to date (`performance.now()`). */
  #tokensAt: number;
  /**
   * Set while the request limit paused the socket: the messages `ws` still
   * emitted (the rest of the chunk it was parsing), read in order once the
   * bucket refilled (at most one chunk, since the socket is not read
   * meanwhile), and the timer that does it.
   */
  #paused: PausedReading | undefined;
  /** Closes the connection when its session ends (see `sessionExpiresAt`). */
  #expiryTimer: NodeJS.Timeout | undefined;
  /** Set once the connection was refused (`createContext` threw, bad connectionParams): how it closes, and the linger timer. */
  #refusal: { code: number; reason: string; timer: NodeJS.Timeout } | undefined;

  constructor(
    /** Server-unique connection number. */
    readonly id: number,
    /** The WebSocket. */
    readonly socket: WebSocket,
    /**
     * The TCP socket the upgrade gave (the one under `socket`): topic frames
     * are written there directly, which is safe because the server turns
     * `permessage-deflate` off and checks that no extension was negotiated.
     */
    readonly raw: Socket,
    req: IncomingMessage,
    private readonly deps: ConnectionDeps,
  ) {
    if (deps.createContext !== undefined) this.#req = req;
    this.#tokens = deps.rateLimit?.burst ?? 0;
    this.#tokensAt = deps.rateLimit === undefined ? 0 : performance.now();
    if (!wantsConnectionParams(req.url)) this.#ctxPromise = this.#createContext(null);
    // Shared listener functions (no closure per connection): they find the
    // connection through a symbol on the socket.
    (socket as SocketWithConnection)[kConnection] = this;
    socket.on('message', Connection.#messageListener);
    socket.on('error', Connection.#errorListener);
    socket.on('close', Connection.#closeListener);
  }

  /** Where it stands (see {@link ConnectionState}). */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Where this connection's topic frames are built. */
  get framePool(): FramePool {
    return this.deps.framePool;
  }

  /** The context `createContext` made (`undefined` before, or without one). */
  get ctx(): unknown {
    return this.#ctx;
  }

  /** Sends a text message unless the socket is closing (keepalive, reconnect notice), within the output budget. */
  sendText(text: string): void {
    if (this.socket.readyState !== OPEN || this.#overBudget()) return;
    this.socket.send(text);
  }

  /**
   * Closes the connection with `code` (a documented close code, PROTOCOL.md
   * §6); one that cannot drain is terminated a second later. Safe to call twice.
   */
  close(code: number, reason: string): void {
    if (this.#state >= ConnectionState.CLOSING) return;
    this.#state = ConnectionState.CLOSING;
    this.#closeSent ??= code;
    this.#endPause();
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }

  /** Ends the TCP connection at once (keepalive timeout, shutdown). */
  terminate(): void {
    this.#endPause();
    this.socket.terminate();
  }

  /** Reads the socket again if the request limit paused it (a closing connection must read the peer's close frame). */
  #endPause(): void {
    if (this.#paused === undefined) return;
    clearTimeout(this.#paused.timer);
    this.#paused = undefined;
    this.socket.resume();
  }

  static readonly #messageListener = function (this: WebSocket, data: Buffer, isBinary: boolean): void {
    (this as SocketWithConnection)[kConnection].#onMessage(data, isBinary);
  };

  static readonly #errorListener = function (this: WebSocket, error: Error): void {
    const connection = (this as SocketWithConnection)[kConnection];
    connection.#closeSent ??= closeCodeOfWsError(error);
    connection.deps.logger.warn('connection error', {
      connection: connection.id,
      ip: connection.clientIp,
      code: (error as NodeJS.ErrnoException).code,
      closeCode: connection.#closeSent,
      cause: error.message,
    });
    connection.#reportError(getTRPCErrorFromUnknown(error), undefined, 'unknown', undefined);
  };

  static readonly #closeListener = function (this: WebSocket, code: number, reason: Buffer): void {
    (this as SocketWithConnection)[kConnection].#onClose(code, reason);
  };

  /**
   * Writes a complete pre-built WebSocket frame (see `textFrame`) straight
   * to the TCP socket, coalesced per loop turn, applying the slow-consumer
   * policy. Safe beside `ws`'s own sends: with compression off, `ws` writes
   * synchronously to the same socket, so order is kept.
   */
  sendFrame(frame: Buffer): void {
    if (this.socket.readyState !== OPEN) return;
    if (this.#overBudget()) {
      this.deps.counters.dropped++;
      return;
    }
    this.deps.coalescer.write(this, frame);
  }

  /** {@link SinkConnection.sendResult}: one result of operation `id`, through tRPC's transformer. */
  sendResult(id: RequestId, jsonrpc: '2.0' | undefined, result: { type: 'data'; id: string; data: unknown }): void {
    this.#respond({ id, jsonrpc, result });
  }

  /** {@link SinkConnection.failSubscription}: the subscription could not start. */
  failSubscription(sink: TopicSink, error: TRPCError): void {
    if (tableGet(this.#subscriptions, sink.id) !== sink) return;
    this.#forget(sink);
    this.#respondError(sink.id, sink.jsonrpc, error, 'subscription', undefined, undefined);
  }

  /**
   * The output budget, shared by events and replies: whether the bytes
   * waiting in the socket exceed it, in which case the connection is closed
   * with 4429 (the client resumes from history).
   */
  #overBudget(): boolean {
    if (this.raw.writableLength <= this.deps.maxBufferedBytes) return false;
    if (this.#state < ConnectionState.CLOSING) {
      this.deps.counters.slowConsumerCloses++;
      this.deps.logger.warn('closing slow consumer', { connection: this.id, bufferedBytes: this.raw.writableLength });
      this.close(CloseCode.SlowConsumer, 'slow consumer');
    }
    return true;
  }

  #respond(message: TRPCResponseMessage): void {
    if (this.#overBudget()) return;
    sendResponse(this.socket, this.deps.config, message);
  }

  /**
   * Takes one token from the connection's request bucket. When it is
   * empty, the request is refused: the client runs up a debt (bounded by
   * the burst) and the socket is not read until the bucket is positive
   * again, so a flood costs the server about the limit, not what the
   * client sends.
   */
  #takeToken(): boolean {
    const limit = this.deps.rateLimit;
    if (limit === undefined) return true;
    const tokens = this.#refill(limit);
    if (tokens >= 1) {
      this.#tokens = tokens - 1;
      return true;
    }
    this.#tokens = Math.max(tokens - 1, -limit.burst);
    this.#pauseReading(limit);
    return false;
  }

  /** The bucket brought up to date. */
  #refill(limit: RateLimit): number {
    const now = performance.now();
    this.#tokens = refilled(limit, this.#tokens, this.#tokensAt, now);
    this.#tokensAt = now;
    return this.#tokens;
  }

  /**
   * Stops reading the socket until the bucket holds a token again; what
   * `ws` still emits meanwhile is held, not parsed, so a flood costs one
   * refused request per refill instead of a chunk of them.
   */
  #pauseReading(limit: RateLimit): void {
    if (this.#paused !== undefined || this.#state >= ConnectionState.CLOSING) return;
    const paused: PausedReading = { held: [], timer: undefined };
    this.#paused = paused;
    this.socket.pause();
    const resumeWhenRefilled = () => {
      const waitMs = msUntil(limit, this.#refill(limit));
      if (waitMs > 0) {
        paused.timer = setTimeout(resumeWhenRefilled, waitMs);
        return;
      }
      this.#readHeld(paused.held);
    };
    resumeWhenRefilled();
  }

  /** Reads the held messages in order, until the limit pauses the socket again (the rest stays held); then reads the socket again. */
  #readHeld(held: PausedReading['held']): void {
    this.#paused = undefined;
    let next = 0;
    while (next < held.length && this.#paused === undefined && this.#state < ConnectionState.CLOSING) {
      const { data, isBinary } = held[next++]!;
      this.#read(data, isBinary);
    }
    if (this.#state >= ConnectionState.CLOSING) return;
    const pausedAgain = this.#paused as PausedReading | undefined; // set again by #read through the limit
    if (pausedAgain !== undefined) pausedAgain.held = held.slice(next);
    else this.socket.resume();
  }

  /** Schedules the 4440 close of a session ending at `at` (see `sessionExpiresAt`). */
  #expireAt(at: Date | number): void {
    const delay = +at - Date.now();
    if (Number.isNaN(delay)) {
      this.deps.logger.warn('sessionExpiresAt gave no valid time: the session does not expire', { connection: this.id, value: String(at) });
      return;
    }
    if (delay > MAX_TIMER_MS) return;
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      this.close(CloseCode.SessionExpired, 'session expired');
    }, Math.max(0, delay));
  }

  #reportError(error: TRPCError, path: string | undefined, type: string, input: unknown): void {
    reportError(this.deps.onError, this.deps.logger, { error, path, type, input, ctx: this.#ctx });
  }

  #respondError(
    id: RequestId | null,
    jsonrpc: '2.0' | undefined,
    cause: unknown,
    type: TRPCProcedureType | 'unknown',
    path: string | undefined,
    input: unknown,
  ): void {
    const error = getTRPCErrorFromUnknown(cause);
    this.#reportError(error, path, type, input);
    this.#respond({ id, jsonrpc, error: errorShapeOf(this.deps.config, this.deps.logger, error, type, path, input, this.#ctx) });
  }

  #createContext(connectionParams: Record<string, string | undefined> | null): Promise<ContextResult> {
    const createContext = this.deps.createContext;
    const req = this.#req;
    this.#req = undefined;
    if (createContext === undefined || req === undefined) {
      this.#state = ConnectionState.OPEN;
      return CONTEXT_READY;
    }
    return (async (): Promise<ContextResult> => {
      try {
        this.#ctx = await createContext({ req, res: this.socket, info: { connectionParams } });
        if (this.#state === ConnectionState.CONNECTING) this.#state = ConnectionState.OPEN;
        const expiresAt = this.deps.sessionExpiresAt?.(this.#ctx);
        if (expiresAt !== undefined && this.#state === ConnectionState.OPEN) this.#expireAt(expiresAt);
        return { ok: true };
      } catch (cause) {
        const error = getTRPCErrorFromUnknown(cause);
        this.#refuse(error, CloseCode.ContextRefused, 'createContext refused the connection');
        return { ok: false, error };
      }
    })();
  }

  /**
   * Answers the connection with `error` (id `null`), then closes it with
   * `code` once the requests that already arrived got the same error.
   */
  #refuse(error: TRPCError, code: number, reason: string): void {
    this.#respondError(null, undefined, error, 'unknown', undefined, undefined);
    // The stock wsLink sends its requests a moment after connectionParams: wait for them, so each gets the error too.
    this.#refusal = { code, reason, timer: setTimeout(() => this.#closeRefused(), REFUSAL_LINGER_MS) };
  }

  /** Closes a refused connection, once the requests that came got the refusal (after the rest of this loop turn's). */
  #closeRefused(): void {
    const refusal = this.#refusal;
    if (refusal === undefined) return;
    clearTimeout(refusal.timer);
    setImmediate(() => this.close(refusal.code, refusal.reason));
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.quietTicks = 0;
    if (this.#paused !== undefined) {
      this.#paused.held.push({ data, isBinary });
      return;
    }
    this.#read(data, isBinary);
  }

  #read(data: Buffer, isBinary: boolean): void {
    if (!isBinary && data.length === 4) {
      const text = data.toString('latin1');
      if (text === PONG) return;
      if (text === PING) {
        this.sendText(PONG);
        return;
      }
    }
    const text = data.toString('utf8');
    if (this.#ctxPromise === undefined) {
      this.#ctxPromise = this.#connectionParams(text);
      return;
    }
    const frame = decodeFrame(text, this.deps.maxBatchSize, this.deps.config.transformer);
    if (frame.kind !== 'requests' && !this.#takeToken()) {
      this.#refuseRateLimited(null, undefined);
      return;
    }
    if (frame.kind === 'not-json') {
      this.#respondError(null, undefined, frame.error, 'unknown', undefined, undefined);
      return;
    }
    if (frame.kind === 'batch-too-big') {
      this.#refuseBatch(frame.messages);
      return;
    }
    for (const [index, request] of frame.requests.entries()) {
      if ((!request.ok || request.message.method !== 'subscription.stop') && !this.#takeToken()) {
        this.#refuseRateLimited(request.ok ? request.message.id : request.id, request.ok ? request.message.jsonrpc : request.jsonrpc);
        continue;
      }
      if (request.ok) {
        this.#handle(request.message, index).catch((cause: unknown) => {
          this.deps.logger.error('request handling failed', { connection: this.id, error: String(cause) });
        });
      } else {
        this.#respondError(request.id, request.jsonrpc, request.error, 'unknown', undefined, undefined);
      }
    }
  }

  #connectionParams(text: string): Promise<ContextResult> {
    try {
      return this.#createContext(parseConnectionParams(text));
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      this.#refuse(error, CloseCode.BadConnectionParams, 'malformed connectionParams');
      return Promise.resolve({ ok: false, error });
    }
  }

  #refuseRateLimited(id: RequestId | null, jsonrpc: '2.0' | undefined): void {
    const limit = this.deps.rateLimit!;
    this.deps.counters.rateLimited++;
    const error = new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `More than ${limit.requestsPerSecond} requests per second (burst ${limit.burst})` });
    this.#respondError(id, jsonrpc, error, 'unknown', undefined, undefined);
  }

  #refuseBatch(messages: unknown[]): void {
    const error = new TRPCError({ code: 'BAD_REQUEST', message: `Batch of ${messages.length} exceeds maxBatchSize ${this.deps.maxBatchSize}` });
    let answered = false;
    for (const raw of messages) {
      const { id, jsonrpc } = requestIdOf(raw);
      if (id !== null && (raw as { method?: unknown }).method !== 'subscription.stop') {
        this.#respondError(id, jsonrpc, error, 'unknown', undefined, undefined);
        answered = true;
      }
    }
    if (!answered) this.#respondError(null, undefined, error, 'unknown', undefined, undefined);
  }

  async #handle(message: TRPCClientOutgoingMessage, batchIndex: number): Promise<void> {
    const { id, jsonrpc } = message;
    if (id === null) {
      this.#respondError(null, jsonrpc, new TRPCError({ code: 'PARSE_ERROR', message: '`id` is required' }), 'unknown', undefined, undefined);
      return;
    }
    if (message.method === 'subscription.stop') {
      this.#stop(id);
      return;
    }
    const type = message.method;
    const { path, lastEventId } = message.params;
    const input = inputWithLastEventId(message.params.input, lastEventId);
    if (type === 'subscription') {
      if (tableGet(this.#subscriptions, id) !== undefined) {
        this.#respondError(id, jsonrpc, new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` }), type, path, input);
        return;
      }
      if (tableSize(this.#subscriptions) >= this.deps.maxSubscriptions) {
        const error = new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `Connection holds the maximum of ${this.deps.maxSubscriptions} subscriptions` });
        this.#respondError(id, jsonrpc, error, type, path, input);
        return;
      }
    }
    const subscription = type === 'subscription' ? new RunningSubscription(id) : undefined;
    if (subscription !== undefined) this.#subscriptions = tableSet(this.#subscriptions, subscription);
    const signal = subscription?.abort.signal ?? (this.#closed ??= new AbortController()).signal;
    try {
      const context = await this.#ctxPromise!;
      if (!context.ok) {
        this.#closeRefused(); // after this request's answer (the catch below sends it)
        throw context.error;
      }
      if (signal.aborted) return;
      const result: unknown = await callTRPCProcedure({
        router: this.deps.router,
        path,
        getRawInput: () => Promise.resolve(input),
        ctx: this.#ctx,
        type,
        signal,
        batchIndex,
      });
      if (subscription === undefined) {
        if (isIterableResult(result)) {
          throw new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: `Cannot return an async iterable from a ${type} over WebSockets` });
        }
        this.#respond({ id, jsonrpc, result: { type: 'data', data: result } });
        return;
      }
      if (signal.aborted || this.socket.readyState !== OPEN) {
        this.#forget(subscription);
        return;
      }
      if (isSubscriptionRequest(result)) {
        await this.#serveTopic(jsonrpc, subscription, result);
        return;
      }
      await iterateResult(result, path, subscription.abort.signal, (answer) => this.#respond({ id, jsonrpc, result: answer }));
      if (tableGet(this.#subscriptions, id) === subscription) {
        this.#forget(subscription);
        this.#respond({ id, jsonrpc, result: { type: 'stopped' } });
      }
    } catch (cause) {
      if (subscription !== undefined) this.#forget(subscription);
      if (signal.aborted && subscription !== undefined) return;
      this.#respondError(id, jsonrpc, cause, type, path, input);
    }
  }

  /**
   * Fast path: the subscription enters the core's index as a {@link TopicSink};
   * the core decides when it counts as started (the engine listens), what it
   * replays, and then events arrive as shared pre-built frames.
   */
  async #serveTopic(jsonrpc: '2.0' | undefined, setup: RunningSubscription, request: SubscriptionRequest): Promise<void> {
    const sink = new TopicSink(this, setup.id, jsonrpc, request);
    // From here the sink stands for the subscription: `#stop` and `#onClose` remove it.
    this.#subscriptions = tableSet(this.#subscriptions, sink);
    try {
      await sink.open(request.lastEventId, request.last);
    } catch (error) {
      this.#forget(sink);
      throw error;
    }
  }

  /**
   * Drops `subscription` from the table, unless its id now belongs to a
   * newer one: a client may stop an id whose start is still pending
   * (authorize, middleware) and reuse it at once.
   */
  #forget(subscription: Subscription): void {
    this.#subscriptions = tableDelete(this.#subscriptions, subscription);
  }

  #stop(id: RequestId): void {
    const subscription = tableGet(this.#subscriptions, id);
    if (subscription === undefined) return;
    this.#forget(subscription);
    subscription.stop();
    // Served topic subscriptions answer `stopped`; an aborted set-up or iteration ends without a reply.
    if (subscription instanceof TopicSink) this.#respond({ id, jsonrpc: subscription.jsonrpc, result: { type: 'stopped' } });
  }

  #onClose(code: number, reason: Buffer): void {
    this.#state = ConnectionState.CLOSED;
    this.socket.off('message', Connection.#messageListener);
    this.socket.off('close', Connection.#closeListener);
    const subscriptions = tableEntries(this.#subscriptions);
    this.#subscriptions = undefined;
    for (const subscription of subscriptions) subscription.stop();
    this.#closed?.abort();
    this.#req = undefined;
    clearTimeout(this.#paused?.timer);
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#refusal?.timer);
    this.#paused = this.#expiryTimer = this.#refusal = undefined;
    // ws stops reading after it refuses a frame, so the peer's closing answer is never seen (1006).
    const reported = code === ABNORMAL_CLOSURE && this.#closeSent !== undefined ? this.#closeSent : code;
    this.deps.onClosed(this, reported, reason);
  }
}
