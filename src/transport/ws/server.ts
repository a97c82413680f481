import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AnyTRPCRouter } from '@trpc/server';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode } from '../../../client/protocol.js';
import type { Logger } from '../../core/logger.js';
import { Registry, registerMetrics, transportCounters, type TransportCounters } from '../../core/metrics.js';
import { Connection, type ConnectionDeps } from './connection.js';
import { hostForUrl, listenError, NOT_FOUND_RESPONSE, pathOf } from './http.js';
import { HttpTransport } from '../http/http-transport.js';
import {
  clientIpOf,
  ConnectionSlots,
  FORBIDDEN_RESPONSE,
  originAllowed,
  TOO_MANY_RESPONSE,
  UNAVAILABLE_RESPONSE,
  type Refusal,
} from './upgrade-guard.js';
import { rateLimitOf } from './token-bucket.js';
import { routerConfigOf } from './trpc-config.js';
import { FramePool } from './frame-pool.js';
import { KeepAlive } from './keepalive.js';
import { WriteCoalescer } from './write-coalescer.js';
import {
  DEFAULT_KEEPALIVE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  DEFAULT_PATH,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_SLOW_CONSUMER,
  type ConnectionInfo,
  type ServerOptions,
  type SseOptions,
} from './options.js';

/** Health as `/health` reports it. */
export interface ServerHealth {
  /** `ok`, `degraded` (broker away, local delivery works) or `closing`. */
  status: 'ok' | 'degraded' | 'closing';
  engine: string;
  detail?: string;
  /** Open connections: WebSockets and SSE streams. */
  connections: number;
  /** Of those, the SSE streams (with `sse` on). */
  sseStreams?: number;
  subscriptions: number;
  channels: number;
}

/** What `/readyz` answers (see {@link PubSubServer.readiness}). */
export interface ServerReadiness {
  /** Whether the instance should get traffic. */
  ready: boolean;
  /** `ok`; `degraded` (the broker did not answer); `closing`; `starting` (not listening yet). */
  status: 'ok' | 'degraded' | 'closing' | 'starting';
  /** The engine's name, once asked. */
  engine?: string;
  /** Why it is not ready (the broker's error, a timeout, the shutdown). */
  detail?: string;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' } as const;

/** Default of {@link ListenOptions.backlog}. */
export const DEFAULT_LISTEN_BACKLOG = 4096;

/** Where {@link PubSubServer.listen} binds. */
export interface ListenOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /**
   * Most connections waiting to be accepted. A reconnect storm (every
   * client of a killed instance arriving at once) overflows a small
   * backlog, and a client whose SYN was dropped waits for the kernel's
   * retry (1 s, then 3 s…). The kernel caps it at `net.core.somaxconn`.
   * @default 4096
   */
  backlog?: number;
}

/** What {@link PubSubServer.listen} resolves to. */
export interface ListeningInfo {
  port: number;
  host: string;
  /** `ws://host:port/path`, ready for `createWSClient({ url })`. */
  url: string;
  /** `http://host:port`, where `/health` and `/metrics` answer. */
  httpUrl: string;
}

const RECONNECT_NOTICE = JSON.stringify({ id: null, method: 'reconnect' });

/**
 * Where a server stands: `open` (serving), `closing` (`close()` called:
 * upgrades get 503, clients are asked to reconnect elsewhere), `closed`
 * (every connection, listener and timer released).
 */
export type ServerState = 'open' | 'closing' | 'closed';

/**
 * A WebSocket server speaking the tRPC v11 protocol, with the topic fast
 * path, keepalive, limits, health and graceful shutdown. Standalone with
 * {@link listen}, or on an existing `http.Server` (Express, Fastify) with
 * {@link attach}.
 */
export class PubSubServer<TRouter extends AnyTRPCRouter> {
  readonly #options: ServerOptions<TRouter>;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  /** Shutdown waiters, told when the last connection closes (see #allClosedWithin). */
  readonly #allClosedWaiters = new Set<() => void>();
  readonly #framePool: FramePool;
  readonly #coalescer = new WriteCoalescer();
  readonly #disconnectInfo = new Map<Connection, ConnectionInfo>();
  /** What every connection shares (one object per server, not per connection). */
  readonly #connectionDeps: ConnectionDeps;
  readonly #logger: Logger;
  readonly #keepAlive: KeepAlive | undefined;
  readonly #path: string;
  readonly #detach: (() => void)[] = [];
  /** Open connections as the caps count them: WebSockets and SSE streams. */
  readonly #slots: ConnectionSlots;
  /** tRPC over HTTP and SSE on the path (`sse`), if on. */
  readonly #http: HttpTransport | undefined;
  /** What the transport counts (for `/metrics`), shared with every connection. */
  readonly #counters: TransportCounters = transportCounters();
  /** Where `/metrics` reads from: the app's registry, or one of the server's own. */
  readonly #registry: Registry;
  readonly #unregisterMetrics: () => void;
  #ownServer: Server | undefined;
  #nextId = 1;
  #closing: Promise<void> | undefined;
  #state: ServerState = 'open';

  constructor(options: ServerOptions<TRouter>) {
    this.#options = options;
    this.#path = options.path ?? DEFAULT_PATH;
    const config = routerConfigOf(options.router);
    this.#logger = options.logger ?? options.pubsub.core.logger;
    this.#framePool = new FramePool(config.transformer);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#connectionDeps = {
      router: options.router,
      config,
      createContext: options.createContext as ConnectionDeps['createContext'],
      framePool: this.#framePool,
      logger: this.#logger,
      maxSubscriptions: options.maxSubscriptionsPerConnection ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxBatchSize: options.maxBatchSize ?? options.maxSubscriptionsPerConnection ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxBufferedBytes: (options.slowConsumer ?? DEFAULT_SLOW_CONSUMER).maxBufferedBytes,
      rateLimit: rateLimitOf(options.rateLimit),
      counters: this.#counters,
      sessionExpiresAt: options.sessionExpiresAt as ConnectionDeps['sessionExpiresAt'],
      coalescer: this.#coalescer,
      onClosed: (connection, code, reason) => this.#onClosed(connection, code, reason),
      onError: options.onError,
    };
    this.#registry = options.metrics?.registry ?? new Registry();
    const core = options.pubsub.core;
    this.#unregisterMetrics = registerMetrics(this.#registry, {
      core: core.counters,
      transport: this.#counters,
      latency: core.latency,
      connections: () => this.#slots.open,
      subscriptions: () => core.health(),
      broker: () => {
        const health = core.health();
        return { engine: health.engine, up: health.status === 'ok' };
      },
    });
    this.#slots = new ConnectionSlots(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP);
    this.#http = options.sse === undefined || options.sse === false ? undefined : this.#httpTransport(options.sse === true ? {} : options.sse);
    const keepAlive = { ...DEFAULT_KEEPALIVE, ...options.keepAlive };
    if (keepAlive.enabled) this.#keepAlive = new KeepAlive(() => this.#connections, keepAlive.pingMs, keepAlive.pongWaitMs);
  }

  /** Where the server stands (see {@link ServerState}). */
  get state(): ServerState {
    return this.#state;
  }

  /** Open connections: WebSockets, and SSE streams with `sse` on. */
  get connectionCount(): number {
    return this.#slots.open;
  }

  /** Distinct shared frame prefixes alive (a measure of fan-out sharing; 0 when idle). */
  get framePrefixCount(): number {
    return this.#framePool.size;
  }

  /**
   * Starts a standalone HTTP server answering WebSocket upgrades on `path`,
   * `GET /health` and `GET /metrics` (see {@link handleHttp}), and with
   * `sse` tRPC's HTTP requests and SSE streams on `path/…`.
   * @throws Error with `code` `'EADDRINUSE'` (or `'EACCES'`, …, as Node
   * reports it) and a one-line message naming the address, the cause
   * attached, when the port cannot be bound.
   */
  async listen(options: ListenOptions = {}): Promise<ListeningInfo> {
    if (this.#ownServer !== undefined) throw new Error('listen() was already called');
    const host = options.host ?? '127.0.0.1';
    const server = createServer((req, res) => {
      if (this.handleHttp(req, res)) return;
      if (this.#closing !== undefined) res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('shutting down\n');
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
    this.#ownServer = server;
    this.attach(server);
    const port = options.port ?? 0;
    try {
      server.listen({ port, host, backlog: options.backlog ?? DEFAULT_LISTEN_BACKLOG });
      await once(server, 'listening'); // rejects with the server's 'error' (EADDRINUSE, …)
    } catch (error) {
      // Leave the server as it was before listen(): a retry on another port may follow.
      this.#ownServer = undefined;
      this.#detach.pop()?.();
      throw listenError(error, host, port);
    }
    const bound = (server.address() as AddressInfo).port;
    const address = hostForUrl(host);
    return { port: bound, host, url: `ws://${address}:${bound}${this.#path}`, httpUrl: `http://${address}:${bound}` };
  }

  /**
   * Serves WebSocket upgrades on `path` of an existing HTTP server
   * (`app.listen()`'s return value in Express, `fastify.server`). Upgrades
   * on other paths are left to other listeners; when there are none, they
   * get `404 Not Found`. Refused upgrades get an HTTP answer: `403` (origin
   * not allowed), `429` (too many connections from the IP), `503`
   * (`maxConnections` reached, or shutting down). After `close()`, upgrades
   * on `path` keep getting `503` while the HTTP server runs and nothing
   * else listens; the listener goes when the HTTP server closes. HTTP
   * requests (the endpoints, and with `sse` tRPC's on `path/…`) reach the
   * server through {@link handleHttp}, called from the app's handler.
   */
  attach(server: Server): void {
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(req) !== this.#path || (this.#state === 'closed' && server.listenerCount('upgrade') > 1)) {
        // Another listener may serve that path; when there is none, say so over HTTP.
        if (server.listenerCount('upgrade') === 1) socket.end(NOT_FOUND_RESPONSE);
        return;
      }
      const ip = clientIpOf(req, this.#options.trustProxy ?? false);
      const refusal = this.#admit(req, ip, true);
      if (refusal !== undefined) {
        socket.end(UPGRADE_REFUSALS[refusal]);
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req, socket as Socket, ip));
    };
    const detach = () => {
      server.off('upgrade', onUpgrade);
      server.off('close', detach);
    };
    server.on('upgrade', onUpgrade);
    server.on('close', detach);
    this.#detach.push(detach);
  }

  /**
   * Why request `req` from client `ip` is refused (counted and logged), or
   * `undefined` to accept it; `connection`: it would open a connection (an
   * upgrade, an SSE stream), which the caps count.
   */
  readonly #admit = (req: IncomingMessage, ip: string, connection: boolean): Refusal | undefined => {
    const refusal = this.#refusalOf(req, ip, connection);
    if (refusal === undefined) return undefined;
    this.#counters.refused[refusal]++;
    if (refusal !== 'closing') {
      const { maxConnections, maxConnectionsPerIp } = this.#slots;
      const fields = { ip, origin: req.headers.origin, host: req.headers.host, maxConnections, maxConnectionsPerIp };
      this.#logger.debug(`refused ${req.headers.upgrade === undefined ? 'an HTTP request' : 'an upgrade'}: ${refusal}`, fields);
    }
    return refusal;
  };

  #refusalOf(req: IncomingMessage, ip: string, connection: boolean): Refusal | undefined {
    if (this.#closing !== undefined) return 'closing';
    if (!originAllowed(req, this.#options.allowedOrigins ?? 'same-origin')) return 'origin';
    return connection ? this.#slots.refusalOf(ip) : undefined;
  }

  /** The HTTP transport `sse` asks for, sharing the caps, counters and context hooks of the WebSockets. */
  #httpTransport(sse: SseOptions): HttpTransport {
    if (sse.retryMs !== undefined && !(Number.isInteger(sse.retryMs) && sse.retryMs >= 0)) throw new RangeError('sse.retryMs needs a whole number of milliseconds >= 0');
    const options = this.#options;
    const deps = this.#connectionDeps;
    return new HttpTransport({
      router: options.router,
      config: deps.config,
      path: this.#path,
      createContext: deps.createContext,
      sessionExpiresAt: deps.sessionExpiresAt,
      maxBodySize: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      maxBatchSize: deps.maxBatchSize,
      maxBufferedBytes: deps.maxBufferedBytes,
      rateLimit: deps.rateLimit,
      allowedOrigins: options.allowedOrigins ?? 'same-origin',
      retryMs: sse.retryMs,
      counters: this.#counters,
      logger: this.#logger,
      onError: options.onError,
      slots: this.#slots,
      clientIpOf: (req) => clientIpOf(req, options.trustProxy ?? false),
      admit: this.#admit,
    });
  }

  /**
   * Answers `GET /healthz` (liveness: 200 while serving, 503 once closing),
   * `GET /readyz` (readiness: 200 when serving and the broker answers a
   * round trip, else 503 with the cause), `GET /health` (JSON counts, 503
   * when degraded or closing), `GET /metrics` (Prometheus text) and
   * `GET /topics` (`{ topics }`, from `pubsub.describe()`); with `sse`,
   * tRPC's HTTP protocol on `path` and `path/…` (queries, mutations, SSE
   * subscriptions; any method), behind the same guards as an upgrade
   * (`403`, `429`, `503` with a tRPC error body). Returns false for other
   * requests, so it can sit in front of an app's own handler.
   */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    return this.#serveEndpoint(req, res) || (this.#http?.handle(req, res) ?? false);
  }

  /** Answers `req` if it is for one of the endpoints {@link handleHttp} lists (they come before tRPC's paths). */
  #serveEndpoint(req: IncomingMessage, res: ServerResponse): boolean {
    const path = pathOf(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/healthz') {
      const alive = this.#closing === undefined;
      res.writeHead(alive ? 200 : 503, JSON_HEADERS).end(JSON.stringify({ status: alive ? 'alive' : 'closing' }));
      return true;
    }
    if (path === '/readyz') {
      void this.readiness().then(
        (readiness) => res.writeHead(readiness.ready ? 200 : 503, JSON_HEADERS).end(JSON.stringify(readiness)),
        (error: unknown) => res.writeHead(503, JSON_HEADERS).end(JSON.stringify({ ready: false, status: 'error', detail: String(error) })),
      );
      return true;
    }
    if (path === '/health') {
      const health = this.health();
      res.writeHead(health.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(health));
      return true;
    }
    if (path === '/topics' && this.#options.exposeTopics !== false) {
      res.writeHead(200, JSON_HEADERS).end(JSON.stringify({ topics: this.#options.pubsub.describe() }));
      return true;
    }
    if (path === '/metrics') {
      void this.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.#registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
      );
      return true;
    }
    return false;
  }

  /**
   * Whether this instance should get traffic: it is serving (not closing,
   * and listening when standalone) and its broker answered a round trip
   * within the engine's command timeout. `detail` says why not.
   */
  async readiness(): Promise<ServerReadiness> {
    if (this.#closing !== undefined) return { ready: false, status: 'closing', detail: 'the server is shutting down' };
    if (this.#ownServer !== undefined && !this.#ownServer.listening) return { ready: false, status: 'starting', detail: 'not listening yet' };
    const core = this.#options.pubsub.core;
    const health = await core.checkHealth();
    if (this.#closing !== undefined) return { ready: false, status: 'closing', detail: 'the server is shutting down' };
    const readiness: ServerReadiness = { ready: health.status === 'ok', status: health.status, engine: health.engine };
    if (health.detail !== undefined) readiness.detail = health.detail;
    return readiness;
  }

  /** Current health: engine status plus local counts. */
  health(): ServerHealth {
    const core = this.#options.pubsub.core.health();
    const health: ServerHealth = {
      status: this.#closing !== undefined ? 'closing' : core.status,
      engine: core.engine,
      connections: this.#slots.open,
      subscriptions: core.subscriptions,
      channels: core.channels,
    };
    if (this.#http !== undefined) health.sseStreams = this.#http.streamCount;
    if (core.detail !== undefined) health.detail = core.detail;
    return health;
  }

  /**
   * Prometheus text exposition of the registry the metrics live in (the
   * app's `metrics.registry`, with the app's own metrics, or the server's).
   */
  metrics(): Promise<string> {
    return this.#registry.metrics();
  }

  /** Tells every client to reconnect (tRPC's `{"id":null,"method":"reconnect"}`). */
  broadcastReconnectNotification(): void {
    for (const connection of this.#connections) {
      connection.sendText(RECONNECT_NOTICE);
    }
  }

  /**
   * Graceful shutdown: refuses new connections (and HTTP requests on
   * `path`: `503`), ends the SSE streams at once (their `EventSource`
   * reconnects, elsewhere behind a balancer), tells WebSocket clients to
   * reconnect elsewhere, waits up to `shutdownGraceMs` for them to leave,
   * closes the rest with 1001, and releases every listener and timer. Does not close the
   * pubsub (it may outlive the server). Safe to call twice.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#state = 'closing';
      this.#closing = this.#close().finally(() => {
        this.#state = 'closed';
      });
    }
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#keepAlive?.stop();
    // SSE has no reconnect notice: ending a stream is one (the EventSource comes back, to another instance).
    this.#http?.endStreams('server shutting down');
    // The port stays bound until the connections are gone, answering 503 (upgrades and HTTP), not ECONNREFUSED.
    if (this.#connections.size > 0) {
      if (this.#options.reconnectNotice !== false) {
        this.broadcastReconnectNotification();
        await this.#allClosedWithin(this.#options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      }
      for (const connection of this.#connections) connection.close(CloseCode.GoingAway, 'server shutting down');
      await this.#allClosedWithin(1000);
      for (const connection of this.#connections) connection.terminate();
      await this.#allClosedWithin(1000);
    }
    const ownServer = this.#ownServer;
    if (ownServer !== undefined) {
      const serverClosed = new Promise<void>((resolve) => ownServer.close(() => resolve()));
      ownServer.closeAllConnections();
      await serverClosed;
      for (const detach of this.#detach.splice(0)) detach();
    }
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#wss.removeAllListeners();
    this.#http?.close();
    // An app's registry may get this server's successor's metrics.
    if (this.#options.metrics?.registry !== undefined) this.#unregisterMetrics();
  }

  /** Resolves when the last connection has closed, or after `ms`. */
  #allClosedWithin(ms: number): Promise<void> {
    if (this.#connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#allClosedWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#allClosedWaiters.add(done);
    });
  }

  #onConnection(socket: WebSocket, req: IncomingMessage, raw: Socket, ip: string): void {
    const options = this.#options;
    if (socket.extensions !== '') {
      // Topic frames are written to the TCP socket directly: that needs frames as sent, uncompressed.
      this.#logger.error('refusing a connection with a negotiated extension', { extensions: socket.extensions });
      socket.close(CloseCode.InternalError, 'unexpected extension');
      return;
    }
    const connection = new Connection(this.#nextId++, socket, raw, req, this.#connectionDeps);
    connection.clientIp = ip;
    this.#slots.add(ip);
    this.#connections.add(connection);
    this.#counters.connectionsOpened++;
    if (options.onConnect !== undefined) {
      const info = { id: connection.id, req, socket };
      this.#hook('onConnect', () => options.onConnect?.(info));
    }
    // The upgrade request is retained per connection only when onDisconnect needs it.
    if (options.onDisconnect !== undefined) this.#disconnectInfo.set(connection, { id: connection.id, req, socket });
  }

  readonly #onClosed = (connection: Connection, code: number, reason: Buffer): void => {
    this.#connections.delete(connection);
    this.#slots.remove(connection.clientIp);
    if (this.#connections.size === 0) for (const waiter of [...this.#allClosedWaiters]) waiter();
    const info = this.#disconnectInfo.get(connection);
    if (info === undefined) return;
    this.#disconnectInfo.delete(connection);
    this.#hook('onDisconnect', () => this.#options.onDisconnect?.({ ...info, code, reason: reason.toString() }));
  };

  #hook(name: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#logger.error(`${name} hook threw`, { error: String(error) });
    }
  }
}

/** How each guard's refusal of an upgrade is written on the raw socket. */
const UPGRADE_REFUSALS: Record<Refusal, string> = {
  closing: UNAVAILABLE_RESPONSE,
  origin: FORBIDDEN_RESPONSE,
  maxConnections: UNAVAILABLE_RESPONSE,
  maxConnectionsPerIp: TOO_MANY_RESPONSE,
};

/**
 * Creates the WebSocket server for a pubsub and router.
 * @example
 * ```ts
 * const server = createPubSubServer({ pubsub, router: appRouter, createContext });
 * const { url } = await server.listen({ port: 3000 });
 * ```
 */
export function createPubSubServer<TRouter extends AnyTRPCRouter>(options: ServerOptions<TRouter>): PubSubServer<TRouter> {
  return new PubSubServer(options);
}
