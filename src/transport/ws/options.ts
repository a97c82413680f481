import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyTRPCRouter, inferRouterContext, TRPCError } from '@trpc/server';
import type { Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import type { Logger } from '../../core/logger.js';
import type { PubSub } from '../../core/pubsub.js';

/** Default of {@link ServerOptions.maxMessageBytes}: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Default of {@link ServerOptions.maxSubscriptionsPerConnection}. */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 1000;
/** Default of {@link ServerOptions.keepAlive}. */
export const DEFAULT_KEEPALIVE = { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 } as const;
/** Default of {@link ServerOptions.slowConsumer}: 8 MiB. */
export const DEFAULT_SLOW_CONSUMER = { maxBufferedBytes: 8 * 1024 * 1024 } as const;
/** Default of {@link ServerOptions.shutdownGraceMs}. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2_000;
/** Default of {@link ServerOptions.path}. */
export const DEFAULT_PATH = '/trpc';
/** Default of {@link ServerOptions.rateLimit}: 1,000 requests per second per connection, bursts of 2,000. */
export const DEFAULT_RATE_LIMIT = { requestsPerSecond: 1000, burst: 2000 } as const;
/** Default of {@link ServerOptions.maxConnections}. */
export const DEFAULT_MAX_CONNECTIONS = 50_000;
/** Default of {@link ServerOptions.maxConnectionsPerIp}. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 1000;

/**
 * Which browser origins may open a connection (checked on the upgrade's
 * `Origin` header, against cross-site WebSocket hijacking; a refused
 * upgrade gets `403 Forbidden`). With `sse`, each HTTP request's `Origin`
 * too (`403` with a `FORBIDDEN` body), and an allowed origin other than
 * the server's own gets CORS headers (credentials allowed, except for
 * `'*'`) and its preflights answered. Requests without an `Origin` header
 * (Node clients, curl) are always let through: only browsers send one.
 * - `'same-origin'`: the origin's host must equal the request's `Host`;
 * - `'*'`: any origin;
 * - a list: exact origins (`'https://app.example.com'`) or patterns;
 * - a function deciding for each origin.
 */
export type AllowedOrigins = 'same-origin' | '*' | readonly (string | RegExp)[] | ((origin: string, req: IncomingMessage) => boolean);

/** A token bucket per WebSocket connection, and per client IP over HTTP (see {@link ServerOptions.rateLimit}). */
export interface RateLimit {
  /** Tokens added per second: the sustained rate. */
  requestsPerSecond: number;
  /** Most tokens held: the largest burst. Must be ≥ 1. */
  burst: number;
}

/**
 * What `createContext` gets: the request, the socket or response, and the
 * client's connectionParams. Over WebSocket it runs once per connection
 * (`req` is the upgrade, `res` the WebSocket); with {@link ServerOptions.sse}
 * once per HTTP request (`req` the request, `res` its `ServerResponse`,
 * `info` tRPC's request info). Tell them apart with
 * `res instanceof ServerResponse` when it matters.
 */
export interface CreateContextOptions {
  /** The HTTP upgrade request, or the HTTP request. */
  req: IncomingMessage;
  /** The WebSocket (named `res` as in tRPC's adapters), or the HTTP request's response. */
  res: WebSocket | ServerResponse;
  /**
   * Connection info; `connectionParams` is what the client's
   * `connectionParams` option sent (over HTTP, `httpSubscriptionLink` puts
   * them in the URL; `httpBatchLink` sends none: use headers or cookies).
   * Over HTTP it is tRPC's whole `TRPCRequestInfo` (`type`, `calls`, …).
   */
  info: { connectionParams: Record<string, string | undefined> | null };
}

/** The HTTP transport's own settings (see {@link ServerOptions.sse}). */
export interface SseOptions {
  /**
   * Sent as the stream's SSE `retry:` field: how long an `EventSource`
   * waits before it reconnects after the server ended its stream (slow
   * consumer, session expired, shutdown, a proxy's timeout). `undefined`
   * sends none: the browser's own delay (about 3 s) applies.
   * @default undefined
   */
  retryMs?: number;
}

/** One connection, as the connect/disconnect hooks see it. */
export interface ConnectionInfo {
  /** Server-unique connection number. */
  id: number;
  /** The HTTP upgrade request. */
  req: IncomingMessage;
  /** The socket. */
  socket: WebSocket;
}

/** Options of `createPubSubServer`. */
export interface ServerOptions<TRouter extends AnyTRPCRouter> {
  /** The pubsub whose topics the router serves. */
  pubsub: PubSub<any, any>;
  /** The application router (with `topicProcedures` inside), or `createPubSubRouter(pubsub)`. */
  router: TRouter;
  /**
   * Builds the tRPC context, once per connection (after connectionParams,
   * when the client sends them). A throw refuses the connection: the client
   * gets the error and the socket closes. With `sse`, once per HTTP request
   * too (see {@link CreateContextOptions}); a throw there answers that
   * request with the error.
   */
  createContext?: (opts: CreateContextOptions) => inferRouterContext<TRouter> | Promise<inferRouterContext<TRouter>>;
  /**
   * URL path the WebSocket endpoint answers on (other paths get 404 in
   * standalone mode and are left to other listeners when attached). With
   * `sse`, tRPC's HTTP URLs are `path/<procedure>` (`/trpc/chat.events`).
   * @default '/trpc'
   */
  path?: string;
  /**
   * Also serve tRPC's HTTP protocol on `path` (and `path/<procedure>`):
   * queries and mutations (`httpBatchLink`, `httpLink`) and subscriptions
   * as Server-Sent Events (`httpSubscriptionLink`), for networks that block
   * WebSockets. The same router, `createContext` (once per request),
   * `sessionExpiresAt` and limits apply: an open SSE stream counts as a
   * connection (`maxConnections`, `maxConnectionsPerIp`, shared with the
   * WebSockets), `rateLimit` counts the requests of each client IP,
   * `maxMessageBytes` bounds a request body, `slowConsumer` a stream's
   * unwritten bytes, `allowedOrigins` checks each request's `Origin`.
   * `listen()`'s server routes these requests itself; an attached server
   * gets them through `server.handleHttp(req, res)`, which the app calls
   * first in its request handler. `true` is `{}`.
   * @default false
   */
  sse?: boolean | SseOptions;
  /**
   * Largest accepted frame, in bytes; a larger one closes the connection
   * with 1009 (the client reconnects). With {@link sse}, also the largest
   * HTTP request body (a larger one gets `413`, `PAYLOAD_TOO_LARGE`).
   * @default 1_048_576
   */
  maxMessageBytes?: number;
  /**
   * Most subscriptions one connection may hold; one more is refused with
   * `TOO_MANY_REQUESTS`. An SSE stream is one connection holding one
   * subscription, so over HTTP the number of streams of a client is what
   * {@link maxConnectionsPerIp} bounds.
   * @default 1000
   */
  maxSubscriptionsPerConnection?: number;
  /**
   * Most messages in one batched frame; a larger batch is refused, every
   * request in it answered with `BAD_REQUEST` (over HTTP, tRPC's own
   * `maxBatchSize` check answers the request). The stock `wsLink` resends
   * every open subscription in one batch when it reconnects, so the default
   * follows the subscription limit rather than a smaller number.
   * @default maxSubscriptionsPerConnection (1000)
   */
  maxBatchSize?: number;
  /**
   * Server-sent `PING` after `pingMs` without a message from the client;
   * the connection is terminated if nothing comes within `pongWaitMs`.
   * WebSocket only: SSE streams ping as the router's own config says
   * (`initTRPC.create({ sse: { ping: { enabled: true, intervalMs } } })`).
   * @default { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 }
   */
  keepAlive?: { enabled: boolean; pingMs?: number; pongWaitMs?: number };
  /**
   * The per-connection output budget: when the bytes waiting to be written
   * to a connection (events and replies alike, in the socket's buffer)
   * exceed `maxBufferedBytes`, the connection is closed with 4429 (it
   * reconnects and may resume from history); memory stays bounded, whether
   * the client stopped reading events or floods requests without reading
   * their answers. With `sse`, an SSE stream whose response holds more
   * unwritten bytes than that is ended (same counter); its `EventSource`
   * reconnects with `Last-Event-ID` and resumes from history.
   * @default { maxBufferedBytes: 8_388_608 }
   */
  slowConsumer?: { maxBufferedBytes: number };
  /**
   * How long `close()` waits for clients to leave after the reconnect
   * notice before closing them with 1001, in milliseconds.
   * @default 2000
   */
  shutdownGraceMs?: number;
  /**
   * Whether `close()` first sends tRPC's reconnect notice
   * (`{"id":null,"method":"reconnect"}`) and waits `shutdownGraceMs` for
   * clients to move. `@trpc/client` 11.25 and later move without the
   * subscriber noticing; before 11.25 the stock wsClient closes its old
   * socket at once and, when that socket's close event arrives after the
   * new one opened, reconnects again and again (README, Compatibility).
   * `false`: `close()` closes every socket with 1001 at once; clients
   * reconnect (elsewhere) once and resume from `lastEventId`.
   * @default true
   */
  reconnectNotice?: boolean;
  /**
   * Requests (queries, mutations such as publishes, subscription starts;
   * not `subscription.stop`, not keepalive) one connection may send: a
   * token bucket. A request past it is answered `TOO_MANY_REQUESTS`, and
   * the server stops reading that socket until the bucket refills, so a
   * flooding client slows itself down instead of the others. With `sse`,
   * HTTP requests take from a bucket per client IP (the IP as for
   * {@link maxConnectionsPerIp}; one token per call of a batch, one per
   * stream opened): a request past it is answered `429` with `Retry-After`
   * and a `TOO_MANY_REQUESTS` body. `false` turns it off.
   * @default { requestsPerSecond: 1000, burst: 2000 }
   */
  rateLimit?: RateLimit | false;
  /**
   * Most open connections, WebSockets and (with `sse`) SSE streams
   * together; one more upgrade or stream is answered `503 Service
   * Unavailable` (with `Retry-After`). Queries and mutations over HTTP are
   * not connections.
   * @default 50_000
   */
  maxConnections?: number;
  /**
   * Most open connections (WebSockets and SSE streams) from one client IP;
   * one more upgrade or stream is answered `429 Too Many Requests` (with
   * `Retry-After`). The IP is the socket's peer unless
   * {@link trustProxy} says to read `X-Forwarded-For`.
   * @default 1000
   */
  maxConnectionsPerIp?: number;
  /**
   * Whether the client IP (for {@link maxConnectionsPerIp}) comes from
   * `X-Forwarded-For`: `false` never (the default: anyone can send that
   * header), `true` the left-most address, a number `n` the address `n`
   * hops before the socket's peer (`1`: the one your single proxy added).
   * @default false
   */
  trustProxy?: boolean | number;
  /**
   * Which browser origins may connect (see {@link AllowedOrigins}).
   * @default 'same-origin'
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * When the connection's session ends, from its context (typically a
   * token's `exp`): a `Date` or milliseconds since the epoch, `undefined`
   * for never. At that time the server closes the connection with 4440
   * (`CloseCode.SessionExpired`); the client reconnects, sending fresh
   * `connectionParams` (make it a function returning the current token),
   * and resumes its subscriptions from `lastEventId`. With `sse`, asked for
   * every HTTP request: a request whose session is over is refused with
   * `UNAUTHORIZED`, and an SSE stream is ended when its session ends (its
   * `EventSource` comes back with the old URL, is refused, and tRPC's
   * `retryLink` subscribes again with fresh `connectionParams` from
   * `lastEventId`).
   */
  sessionExpiresAt?: (ctx: inferRouterContext<TRouter>) => Date | number | undefined;
  /**
   * Whether `GET /topics` answers with the topics and their JSON Schemas
   * (what `npx trpc-pubsub topics <url>` reads). Like `/metrics` it has no
   * access control: set `false` when the topic list is not public.
   * @default true
   */
  exposeTopics?: boolean;
  /** A WebSocket connection opened (a throw is logged and ignored); SSE streams are not reported. */
  onConnect?: (connection: ConnectionInfo) => void;
  /**
   * A WebSocket connection closed (a throw is logged and ignored). `code` is the close
   * code the client sent, or the one the server sent when it closed the
   * connection itself (1009 frame too big, 1002/1007 malformed frame, 4429
   * slow consumer, 1001 shutdown); 1006 when the connection ended without a
   * closing handshake (keepalive timeout, network loss).
   */
  onDisconnect?: (connection: ConnectionInfo & { code: number; reason: string }) => void;
  /** Every error returned to a client or raised by a socket. */
  onError?: (info: { error: TRPCError; path: string | undefined; type: string; input: unknown; ctx: unknown }) => void;
  /**
   * Prometheus metrics (`prom-client`): pass the app's `registry` to serve
   * trpc-pubsub's `trpc_pubsub_*` metrics beside the app's own, on the
   * app's endpoint or on this server's `/metrics` (which then shows the
   * whole registry). One server per registry; `close()` takes its metrics
   * out of an app's registry.
   * @default a registry of the server's own
   */
  metrics?: { registry?: Registry };
  /** Where logs go. @default the pubsub's logger */
  logger?: Logger;
}
