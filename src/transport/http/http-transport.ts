/**
 * The second transport of `createPubSubServer` (`sse: true`): tRPC's HTTP
 * protocol on the server's path, through tRPC's public node adapter
 * (`nodeHTTPRequestHandler`), behind the same guards as the WebSocket
 * upgrades (shutdown, origin, connection caps shared with the WebSockets),
 * a per-IP request bucket, and the output budget and session expiry of
 * each SSE stream.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyTRPCRouter } from '@trpc/server';
import { nodeHTTPRequestHandler } from '@trpc/server/adapters/node-http';
import { TRPCError } from '@trpc/server';
import type { Logger } from '../../core/logger.js';
import type { TransportCounters } from '../../core/metrics.js';
import type { AllowedOrigins, CreateContextOptions, RateLimit } from '../ws/options.js';
import { reportError, type OnErrorHook } from '../ws/respond.js';
import type { RouterConfig } from '../ws/trpc-config.js';
import type { ConnectionSlots, Refusal } from '../ws/upgrade-guard.js';
import { answerPreflight, isPreflight, setCorsHeaders, VARY_ORIGIN } from './cors.js';
import { IpBuckets } from './ip-buckets.js';
import { writeRefusal, type HttpRefusal } from './refusal.js';
import { targetOf, type RequestTarget } from './request-target.js';
import { SseStream, type StreamEnd } from './sse-stream.js';
import { serveTopicStream, SseEventEncoder } from './topic-stream.js';
import { isTopicSubscription } from '../../core/subscription-request.js';

/** Everything the HTTP transport shares with its server. */
export interface HttpTransportDeps {
  router: AnyTRPCRouter;
  config: RouterConfig;
  /** The server's path (`/trpc`): requests on it and under it are tRPC's. */
  path: string;
  createContext: ((opts: CreateContextOptions) => unknown) | undefined;
  sessionExpiresAt: ((ctx: unknown) => Date | number | undefined) | undefined;
  /** Largest request body (`maxMessageBytes`). */
  maxBodySize: number;
  /** Most calls in one batch. */
  maxBatchSize: number;
  /** A stream's output budget (`slowConsumer.maxBufferedBytes`). */
  maxBufferedBytes: number;
  /** The per-IP request bucket; `undefined` when off. */
  rateLimit: RateLimit | undefined;
  /** Which origins may use it (CORS headers for those on another origin). */
  allowedOrigins: AllowedOrigins;
  /** The SSE `retry:` field, if any (`sse.retryMs`). */
  retryMs: number | undefined;
  counters: TransportCounters;
  logger: Logger;
  onError: OnErrorHook | undefined;
  /** The caps' count of open connections, shared with the WebSockets. */
  slots: ConnectionSlots;
  /** The client IP the caps and the bucket count `req` under. */
  clientIpOf: (req: IncomingMessage) => string;
  /** The server's guards (counted and logged there): why `req` is refused, `connection` when it would open one. */
  admit: (req: IncomingMessage, ip: string, connection: boolean) => Refusal | undefined;
}

/** How each guard's refusal is answered over HTTP. */
const REFUSALS: Record<Refusal, HttpRefusal> = {
  closing: { status: 503, code: 'SERVICE_UNAVAILABLE', message: 'The server is shutting down', retryAfterS: 1 },
  origin: { status: 403, code: 'FORBIDDEN', message: 'Origin not allowed' },
  maxConnections: { status: 503, code: 'SERVICE_UNAVAILABLE', message: 'The server holds its maximum of connections', retryAfterS: 1 },
  maxConnectionsPerIp: { status: 429, code: 'TOO_MANY_REQUESTS', message: 'Too many connections from this address', retryAfterS: 1 },
};

/** tRPC over HTTP and SSE on the server's path (see the module comment). */
export class HttpTransport {
  readonly #streams = new Set<SseStream>();
  /** Each event's SSE text, made once for every stream that gets it. */
  readonly #encoder: SseEventEncoder;
  readonly #buckets: IpBuckets | undefined;
  readonly #onClosed = (stream: SseStream): void => {
    this.#streams.delete(stream);
    this.deps.slots.remove(stream.ip);
  };

  constructor(private readonly deps: HttpTransportDeps) {
    if (deps.rateLimit !== undefined) this.#buckets = new IpBuckets(deps.rateLimit);
    this.#encoder = new SseEventEncoder(deps.config);
  }

  /** Open SSE streams. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * Serves `req` when it is on the path (returns true), else returns false:
   * refused with a tRPC error body (`403`, `429` with `Retry-After`, `503`),
   * a CORS preflight answered, or handed to tRPC's adapter, an SSE stream
   * being counted as a connection until its response closes. Requests from
   * an allowed origin other than the server's get CORS headers.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const deps = this.deps;
    const target = targetOf(req, deps.path, deps.router);
    if (target === undefined) return false;
    const ip = deps.clientIpOf(req);
    const preflight = isPreflight(req);
    const refusal = deps.admit(req, ip, target.stream && !preflight);
    const crossOrigin = refusal !== 'origin' && setCorsHeaders(req, res, deps.allowedOrigins);
    if (refusal !== undefined) {
      writeRefusal(res, deps.config, deps.logger, REFUSALS[refusal], target);
      return true;
    }
    if (preflight) {
      answerPreflight(req, res);
      return true;
    }
    if (!this.#takeTokens(req, res, ip, target)) return true;
    const stream = target.stream ? this.#open(res, ip) : undefined;
    const topic = target.call;
    if (stream !== undefined && req.method === 'GET' && topic !== undefined && isTopicSubscription(topic.procedure) && sseSubscriptionsOn(deps.config)) {
      // A topic subscription: the fast path (one text per event for every SSE subscriber), same protocol as tRPC's.
      void serveTopicStream(req, res, topic.path, topic.procedure, {
        router: deps.router,
        config: deps.config,
        encoder: this.#encoder,
        logger: deps.logger,
        onError: deps.onError,
        createContext: (info) => this.#createContext({ req, res, info: info as unknown as CreateContextOptions['info'] }, stream),
      });
      return true;
    }
    void nodeHTTPRequestHandler<AnyTRPCRouter, IncomingMessage, ServerResponse>({
      router: deps.router,
      req,
      res,
      path: target.procedurePath,
      maxBodySize: deps.maxBodySize,
      maxBatchSize: deps.maxBatchSize,
      createContext: (opts) => this.#createContext(opts, stream),
      responseMeta: crossOrigin ? VARY_ORIGIN : undefined,
      onError: ({ error, path, type, input, ctx }) => reportError(deps.onError, deps.logger, { error, path, type, input, ctx }),
    });
    return true;
  }

  /** Ends every open stream (their clients reconnect, elsewhere when this server is going). */
  endStreams(why: StreamEnd): void {
    for (const stream of [...this.#streams]) stream.end(why);
  }

  /** Releases the request buckets and their timer. */
  close(): void {
    this.#buckets?.clear();
  }

  /** Takes the request's tokens from its IP's bucket, or answers `429` and returns false. */
  #takeTokens(req: IncomingMessage, res: ServerResponse, ip: string, target: RequestTarget): boolean {
    const buckets = this.#buckets;
    if (buckets === undefined) return true;
    const waitMs = buckets.take(ip, target.calls);
    if (waitMs === 0) return true;
    const { limit } = buckets;
    const deps = this.deps;
    deps.counters.rateLimited++;
    const message = `More than ${limit.requestsPerSecond} requests per second (burst ${limit.burst})`;
    const refusal: HttpRefusal = { status: 429, code: 'TOO_MANY_REQUESTS', message, retryAfterS: Math.ceil(waitMs / 1000) };
    const error = writeRefusal(res, deps.config, deps.logger, refusal, target);
    reportError(deps.onError, deps.logger, { error, path: target.procedurePath, type: 'unknown', input: undefined, ctx: undefined });
    deps.logger.debug('refused an HTTP request: rateLimit', { ip, url: req.url });
    return false;
  }

  #open(res: ServerResponse, ip: string): SseStream {
    const deps = this.deps;
    const stream = new SseStream(res, ip, {
      maxBufferedBytes: deps.maxBufferedBytes,
      retryMs: deps.retryMs,
      counters: deps.counters,
      logger: deps.logger,
      onClosed: this.#onClosed,
    });
    this.#streams.add(stream);
    deps.slots.add(ip);
    deps.counters.connectionsOpened++;
    return stream;
  }

  /**
   * The app's `createContext`, once per request; then `sessionExpiresAt`:
   * a session already over is refused (`UNAUTHORIZED`, so a client coming
   * back with stale `connectionParams` is told to get fresh ones), a
   * stream's is ended when it ends.
   */
  async #createContext(opts: { req: IncomingMessage; res: ServerResponse; info: CreateContextOptions['info'] }, stream: SseStream | undefined): Promise<unknown> {
    const { createContext, sessionExpiresAt } = this.deps;
    if (createContext === undefined) return undefined;
    const ctx = await createContext({ req: opts.req, res: opts.res, info: opts.info });
    const at = sessionExpiresAt?.(ctx);
    if (at !== undefined) {
      if (+at <= Date.now()) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Session expired' });
      stream?.expireAt(at);
    }
    return ctx;
  }
}

/** Whether the router serves subscriptions over SSE (tRPC's `sse.enabled`, on unless turned off). */
function sseSubscriptionsOn(config: RouterConfig): boolean {
  return (config.sse as { enabled?: boolean } | undefined)?.enabled !== false;
}
