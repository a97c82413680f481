import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import {
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  isTrackedEnvelope,
  transformTRPCResponse,
  TRPCError,
  type AnyTRPCRouter,
  type TRPCProcedureType,
} from '@trpc/server';
import { parseConnectionParamsFromUnknown } from '@trpc/server/http';
import { isObservable, observableToAsyncIterable } from '@trpc/server/observable';
import { parseTRPCMessage, type TRPCClientOutgoingMessage, type TRPCResponseMessage } from '@trpc/server/rpc';
import type { WebSocket } from 'ws';
import { CloseCode, PING, PONG } from '../../client/protocol.js';
import type { Sink } from '../channel-index.js';
import type { EncodedEvent } from '../encoded-event.js';
import type { Logger } from '../logger.js';
import type { PubSubInternals } from '../pubsub.js';
import { TopicSubscription } from '../router.js';
import { allowsEvent, type AllowedTopics, type SubscriptionScope } from '../subscription-scope.js';
import type { FramePool, FramePrefix } from './frame-pool.js';
import type { CreateContextOptions } from './options.js';
import {
  tableDelete,
  tableEntries,
  tableGet,
  tableSet,
  tableSize,
  type RequestId,
  type SubscriptionTable,
} from './subscription-table.js';
import type { CoalescedSocket, WriteCoalescer } from './write-coalescer.js';

const OPEN = 1;
/** The close code of a connection that ended without a closing handshake. */
const ABNORMAL_CLOSURE = 1006;

/** Everything a {@link Connection} shares with its server. */
export interface ConnectionDeps {
  router: AnyTRPCRouter;
  createContext: ((opts: CreateContextOptions) => unknown) | undefined;
  framePool: FramePool;
  logger: Logger;
  maxSubscriptions: number;
  maxBatchSize: number;
  maxBufferedBytes: number;
  coalescer: WriteCoalescer;
  /** Called once when the socket has closed and every subscription is released. */
  onClosed: (connection: Connection, code: number, reason: Buffer) => void;
  onError: ((info: { error: TRPCError; path: string | undefined; type: string; input: unknown; ctx: unknown }) => void) | undefined;
}

const kConnection = Symbol('trpc-pubsub.connection');
type SocketWithConnection = WebSocket & { [kConnection]: Connection };
/** The context of a server without `createContext`: ready at once, shared. */
const CONTEXT_READY: Promise<{ ok: true }> = Promise.resolve({ ok: true });

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

/** What a connection's subscription table holds. */
type Subscription = RunningSubscription | TopicSink;

/**
 * One client socket speaking the tRPC v11 WebSocket protocol. Topic
 * subscriptions are served from the pubsub's channel index with
 * pre-serialized frames; everything else (queries, mutations, the app's
 * own subscriptions) runs through tRPC's `callProcedure` as in the stock
 * adapter.
 */
export class Connection implements CoalescedSocket {
  /** The TCP socket under `ws` (topic frames are written there directly). */
  readonly raw: Socket;
  /** {@link WriteCoalescer} state: the loop turn of the last write. */
  lastTurn = -1;
  /** {@link WriteCoalescer} state: whether the socket is corked until the turn ends. */
  corked = false;
  /**
   * {@link KeepAlive} ticks since the last message from the client (a small
   * integer: no timestamp, which V8 would box, per connection).
   */
  quietTicks = 0;

  #subscriptions: SubscriptionTable<Subscription> = undefined;
  /** The upgrade request, kept only until the context is created. */
  #req: IncomingMessage | undefined;
  /** Aborts queries and mutations in flight when the socket closes; made on first use. */
  #closed: AbortController | undefined;
  #ctx: unknown;
  #ctxPromise: Promise<{ ok: true } | { ok: false; error: TRPCError }> | undefined;
  /**
   * The close code the server sent when it closed the connection itself
   * (slow consumer, or `ws` refusing a frame: 1009 too big, 1002, 1007…):
   * reported instead of 1006 when the peer's answer never arrives.
   */
  #closeSent: number | undefined;

  constructor(
    readonly id: number,
    readonly socket: WebSocket,
    req: IncomingMessage,
    private readonly deps: ConnectionDeps,
  ) {
    // `ws` keeps the TCP socket in `_socket`; topic frames are written there directly.
    this.raw = (socket as unknown as { _socket: Socket })._socket;
    if (deps.createContext !== undefined) this.#req = req;
    const url = req.url ?? '/';
    const wantsParams = url.includes('connectionParams=1') && new URL(url, 'http://localhost').searchParams.get('connectionParams') === '1';
    if (!wantsParams) this.#ctxPromise = deps.createContext === undefined ? CONTEXT_READY : this.#createContext(null);
    // Shared listener functions (no closure per connection): they find the
    // connection through a symbol on the socket.
    (socket as SocketWithConnection)[kConnection] = this;
    socket.on('message', Connection.#messageListener);
    socket.on('error', Connection.#errorListener);
    socket.on('close', Connection.#closeListener);
  }

  /** Where this connection's topic frames are built. */
  get framePool(): FramePool {
    return this.deps.framePool;
  }

  /** The context `createContext` made (`undefined` before, or without one). */
  get ctx(): unknown {
    return this.#ctx;
  }

  static readonly #messageListener = function (this: WebSocket, data: Buffer, isBinary: boolean): void {
    (this as SocketWithConnection)[kConnection].#onMessage(data, isBinary);
  };

  static readonly #errorListener = function (this: WebSocket, error: Error): void {
    (this as SocketWithConnection)[kConnection].#closeSent ??= wsStatusCodeOf(error);
    (this as SocketWithConnection)[kConnection].#reportError(getTRPCErrorFromUnknown(error), undefined, 'unknown', undefined);
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
    if (this.raw.writableLength > this.deps.maxBufferedBytes) {
      this.#closeSlowConsumer();
      return;
    }
    this.deps.coalescer.write(this, frame);
  }

  #closeSlowConsumer(): void {
    if (this.#closeSent !== undefined) return;
    this.#closeSent = CloseCode.SlowConsumer;
    this.deps.logger.warn('closing slow consumer', { connection: this.id, bufferedBytes: this.raw.writableLength });
    this.socket.close(CloseCode.SlowConsumer, 'slow consumer');
    // A socket that cannot drain will not complete the closing handshake either.
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }

  #respond(message: TRPCResponseMessage): void {
    if (this.socket.readyState !== OPEN) return;
    const transformed = transformTRPCResponse(this.deps.router._def._config, message);
    this.socket.send(JSON.stringify(transformed));
  }

  #errorShape(error: TRPCError, type: TRPCProcedureType | 'unknown', path: string | undefined, input: unknown) {
    try {
      return getTRPCErrorShape({ config: this.deps.router._def._config, error, type, path, input, ctx: this.#ctx });
    } catch (cause) {
      this.deps.logger.error('errorFormatter threw', { error: String(cause) });
      return { code: -32603, message: 'Internal server error', data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 } };
    }
  }

  #reportError(error: TRPCError, path: string | undefined, type: string, input: unknown): void {
    try {
      this.deps.onError?.({ error, path, type, input, ctx: this.#ctx });
    } catch (cause) {
      this.deps.logger.error('onError hook threw', { error: String(cause) });
    }
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
    this.#respond({ id, jsonrpc, error: this.#errorShape(error, type, path, input) });
  }

  async #createContext(connectionParams: Record<string, string | undefined> | null): Promise<{ ok: true } | { ok: false; error: TRPCError }> {
    try {
      const req = this.#req;
      this.#req = undefined;
      if (req !== undefined) this.#ctx = await this.deps.createContext?.({ req, res: this.socket, info: { connectionParams } });
      return { ok: true };
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      this.#respondError(null, undefined, error, 'unknown', undefined, undefined);
      setImmediate(() => this.socket.close());
      return { ok: false, error };
    }
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.quietTicks = 0;
    if (!isBinary && data.length === 4) {
      const text = data.toString('latin1');
      if (text === PONG) return;
      if (text === PING) {
        if (this.socket.readyState === OPEN) this.socket.send(PONG);
        return;
      }
    }
    const text = data.toString('utf8');
    if (this.#ctxPromise === undefined) {
      this.#ctxPromise = this.#connectionParams(text);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      this.#respondError(null, undefined, new TRPCError({ code: 'PARSE_ERROR', message: 'Frame is not valid JSON', cause }), 'unknown', undefined, undefined);
      return;
    }
    const messages = Array.isArray(json) ? json : [json];
    if (Array.isArray(json) && messages.length > this.deps.maxBatchSize) {
      this.#refuseBatch(messages);
      return;
    }
    const transformer = this.deps.router._def._config.transformer;
    for (const [index, raw] of messages.entries()) {
      const { id, jsonrpc } = requestIdOf(raw);
      const problem = requestProblem(raw);
      if (problem !== undefined) {
        this.#respondError(id, jsonrpc, problem, 'unknown', undefined, undefined);
        continue;
      }
      let message: TRPCClientOutgoingMessage;
      try {
        message = parseTRPCMessage(raw, transformer);
      } catch (cause) {
        this.#respondError(id, jsonrpc, new TRPCError({ code: 'PARSE_ERROR', message: messageOf(cause, 'Malformed message'), cause }), 'unknown', undefined, undefined);
        continue;
      }
      this.#handle(message, index).catch((cause: unknown) => {
        this.deps.logger.error('request handling failed', { connection: this.id, error: String(cause) });
      });
    }
  }

  #connectionParams(text: string): Promise<{ ok: true } | { ok: false; error: TRPCError }> {
    let params: Record<string, string | undefined> | null;
    try {
      const message: unknown = JSON.parse(text);
      if (typeof message !== 'object' || message === null || (message as { method?: unknown }).method !== 'connectionParams') {
        throw new Error('first message must be {"method":"connectionParams","data":{…}}');
      }
      params = parseConnectionParamsFromUnknown((message as { data?: unknown }).data);
    } catch (cause) {
      const error = new TRPCError({ code: 'PARSE_ERROR', message: `Malformed connectionParams message: ${messageOf(cause, '')}`, cause });
      this.#respondError(null, undefined, error, 'unknown', undefined, undefined);
      setImmediate(() => this.socket.close());
      return Promise.resolve({ ok: false, error });
    }
    return this.#createContext(params);
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
    let input: unknown = message.params.input;
    if (lastEventId !== undefined) {
      input = typeof input === 'object' && input !== null ? { ...input, lastEventId } : (input ?? { lastEventId });
    }
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
      if (!context.ok) throw context.error;
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
        if (isObservable(result) || isAsyncIterableValue(result)) {
          throw new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: `Cannot return an async iterable from a ${type} over WebSockets` });
        }
        this.#respond({ id, jsonrpc, result: { type: 'data', data: result } });
        return;
      }
      if (signal.aborted || this.socket.readyState !== OPEN) {
        this.#forget(subscription);
        return;
      }
      if (result instanceof TopicSubscription) {
        await this.#serveTopic(jsonrpc, subscription, result);
        return;
      }
      await this.#iterate(jsonrpc, subscription, result, path);
    } catch (cause) {
      if (subscription !== undefined) this.#forget(subscription);
      if (signal.aborted && subscription !== undefined) return;
      this.#respondError(id, jsonrpc, cause, type, path, input);
    }
  }

  /**
   * Fast path: registers a sink in the pubsub index; events arrive as shared
   * pre-built frames. `started` is sent once the engine's broker
   * subscription is effective, so a publish on any instance after the client
   * saw `started` reaches it; frames arriving before that are held and sent
   * right after `started`.
   */
  async #serveTopic(jsonrpc: '2.0' | undefined, subscription: RunningSubscription, topic: TopicSubscription): Promise<void> {
    const { id } = subscription;
    const sink = new TopicSink(this, id, this.deps.framePool.acquire(id, jsonrpc), topic.internals, topic.scope, topic.allowedTopics);
    sink.attach();
    // From here the sink stands for the subscription: `#stop` and `#onClose` remove it.
    this.#subscriptions = tableSet(this.#subscriptions, sink);
    const listening = topic.internals.whenListening(topic.scope);
    if (listening !== undefined) await listening;
    if (tableGet(this.#subscriptions, id) === sink) sink.start();
  }

  /** Stock path for the application's own subscriptions: iterate and send each value. */
  async #iterate(jsonrpc: '2.0' | undefined, subscription: RunningSubscription, result: unknown, path: string): Promise<void> {
    const { id } = subscription;
    const { signal } = subscription.abort;
    let iterable: AsyncIterable<unknown>;
    if (isObservable(result)) iterable = observableToAsyncIterable(result, signal);
    else if (isAsyncIterableValue(result)) iterable = result;
    else throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: `Subscription ${path} did not return an observable or an async iterable` });
    const iterator = iterable[Symbol.asyncIterator]();
    this.#respond({ id, jsonrpc, result: { type: 'started' } });
    try {
      while (!signal.aborted) {
        const next = await nextOrAbort(iterator, signal);
        if (next === undefined || next.done) break;
        const value: unknown = next.value;
        if (isTrackedEnvelope(value)) {
          this.#respond({ id, jsonrpc, result: { type: 'data', id: value[0], data: { id: value[0], data: value[1] } } });
        } else {
          this.#respond({ id, jsonrpc, result: { type: 'data', data: value } });
        }
      }
    } finally {
      await iterator.return?.().catch(() => undefined);
    }
    if (tableGet(this.#subscriptions, id) === subscription) {
      this.#forget(subscription);
      this.#respond({ id, jsonrpc, result: { type: 'stopped' } });
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
    if (subscription instanceof TopicSink) this.#respond({ id, result: { type: 'stopped' } });
  }

  #onClose(code: number, reason: Buffer): void {
    this.socket.off('message', Connection.#messageListener);
    this.socket.off('close', Connection.#closeListener);
    const subscriptions = tableEntries(this.#subscriptions);
    this.#subscriptions = undefined;
    for (const subscription of subscriptions) subscription.stop();
    this.#closed?.abort();
    this.#req = undefined;
    // ws stops reading after it refuses a frame, so the peer's closing answer is never seen (1006).
    const reported = code === ABNORMAL_CLOSURE && this.#closeSent !== undefined ? this.#closeSent : code;
    this.deps.onClosed(this, reported, reason);
  }
}

/**
 * A topic subscription served from the index: one small object per
 * subscription (no closures, no AbortController), turning events into
 * shared frames for its connection. Frames that arrive before `started` was
 * sent are held.
 */
class TopicSink implements Sink {
  /** Frames held until `started` is sent; `undefined` once started. */
  #held: Buffer[] | undefined = [];
  /** `undefined` once removed. */
  #prefix: FramePrefix | undefined;

  constructor(
    private readonly connection: Connection,
    readonly id: RequestId,
    prefix: FramePrefix,
    private readonly internals: PubSubInternals,
    private readonly scope: SubscriptionScope,
    /** For an all-topics subscription under `authorize`: the topics it may receive. */
    private readonly allowed: AllowedTopics,
  ) {
    this.#prefix = prefix;
  }

  /** Enters the pubsub index; on failure gives the frame prefix back and throws. */
  attach(): void {
    try {
      this.internals.attach(this.scope, this, { origin: 'websocket', ctx: this.connection.ctx });
    } catch (error) {
      this.#release();
      throw error;
    }
  }

  deliver(encoded: EncodedEvent): void {
    const prefix = this.#prefix;
    if (prefix === undefined) return;
    if (!allowsEvent(this.allowed, encoded)) return;
    const frame = this.connection.framePool.frame(prefix, encoded);
    if (this.#held === undefined) this.connection.sendFrame(frame);
    else this.#held.push(frame);
  }

  /** Sends `started` (a pre-built frame shared by the operation id), then what was held; sends directly from now on. */
  start(): void {
    if (this.#prefix === undefined) return;
    this.connection.sendFrame(this.#prefix.started);
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const frame of held) this.connection.sendFrame(frame);
  }

  /** Leaves the index and gives the frame prefix back; safe to call twice. */
  stop(): void {
    if (this.#prefix === undefined) return;
    this.internals.detach(this.scope, this, { origin: 'websocket', ctx: this.connection.ctx });
    this.#release();
  }

  #release(): void {
    if (this.#prefix !== undefined) this.connection.framePool.release(this.#prefix);
    this.#prefix = undefined;
    this.#held = undefined;
  }
}

/**
 * The close code `ws` sends when it refuses a frame, from the documented
 * `error.code` of its receiver errors (ws/doc/ws.md, "Error codes"): 1009
 * too big, 1007 invalid UTF-8, 1008 too many fragments, 1002 for the other
 * protocol errors.
 */
const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_UNEXPECTED_RSV_1: 1002,
  WS_ERR_UNEXPECTED_RSV_2_3: 1002,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
};

function wsStatusCodeOf(error: Error): number | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  return code === undefined ? undefined : WS_ERROR_CLOSE_CODES[code];
}

function isAsyncIterableValue(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

const METHODS = new Set(['query', 'mutation', 'subscription', 'subscription.stop']);

/**
 * Strict checks tRPC's own parser is lenient about (it lets objects pass as
 * ids): see {@link isRequestId}.
 */
function requestProblem(raw: unknown): TRPCError | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return new TRPCError({ code: 'PARSE_ERROR', message: 'Message must be a JSON object' });
  }
  const { id, method } = raw as { id?: unknown; method?: unknown };
  if (id !== null && !isRequestId(id)) return new TRPCError({ code: 'PARSE_ERROR', message: '`id` must be an integer or a string of 1-64 characters' });
  if (typeof method !== 'string' || !METHODS.has(method)) {
    return new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `Unknown method ${JSON.stringify(method)}` });
  }
  return undefined;
}

/** `iterator.next()`, or `undefined` as soon as `signal` aborts (listener removed either way). */
function nextOrAbort<T>(iterator: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T> | undefined> {
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function requestIdOf(raw: unknown): { id: RequestId | null; jsonrpc: '2.0' | undefined } {
  if (typeof raw !== 'object' || raw === null) return { id: null, jsonrpc: undefined };
  const { id, jsonrpc } = raw as { id?: unknown; jsonrpc?: unknown };
  return { id: isRequestId(id) ? id : null, jsonrpc: jsonrpc === '2.0' ? '2.0' : undefined };
}

/** A well-formed operation id: a safe integer, or a string of 1-64 characters. */
function isRequestId(id: unknown): id is RequestId {
  return (typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && id.length > 0 && id.length <= 64);
}

function messageOf(cause: unknown, fallback: string): string {
  return cause instanceof Error && cause.message !== '' ? cause.message : fallback;
}
