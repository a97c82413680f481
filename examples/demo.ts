/**
 * One demo instance: the hub of `demo-topics.ts` on a `node:http` server
 * that serves the web app at `/`, WebSocket upgrades and tRPC HTTP
 * (queries, mutations, SSE subscriptions) on `/trpc`, `GET /trigger`,
 * `GET /health` and `GET /metrics`, and publishes the ticker every
 * `tickMs`. `demo-server.ts` (`npm start`) parses arguments and calls
 * {@link startDemo}; tests call it in-process on port 0.
 */
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createPubSubServer, type Engine, type Logger, type PubSubServer } from 'trpc-pubsub';
import type { WebSocket } from 'ws';
import { serveStatic } from './demo-static.js';
import { createDemoApp, nameFrom, type DemoAppOptions } from './demo-topics.js';

/** Where the built web app is by default: `examples/web/dist`. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('./web/dist/', import.meta.url));

/** How often the server publishes the ticker by default. */
export const DEFAULT_TICK_MS = 1000;

/** Options of {@link startDemo}. */
export interface StartDemoOptions {
  /** Port to listen on; 0 picks a free one. @default 3000 */
  port?: number;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** The hub's engine (e.g. `redisEngine({ url })` to share rooms, history and presence between instances). @default memory */
  engine?: Engine;
  /** Milliseconds between two ticker events. @default DEFAULT_TICK_MS */
  tickMs?: number;
  /** The ticker's symbol (each instance publishes its own). @default `DEMO:<port>` */
  tickerSymbol?: string;
  /** Messages each chat room keeps. @default DEFAULT_CHAT_HISTORY (100) */
  chatHistory?: number;
  /** The folder of the built web app. @default DEFAULT_WEB_DIR */
  webDir?: string;
  /** The hub's logger. */
  logger?: Logger;
}

/** A running demo instance (see {@link startDemo}); `close()` is safe twice. */
export interface Demo {
  /** `http://<host>:<port>/`: the web app. */
  readonly url: string;
  /** `ws://<host>:<port>/trpc`. */
  readonly wsUrl: string;
  /** The port it listens on. */
  readonly port: number;
  /** The hub. */
  readonly pubsub: ReturnType<typeof createDemoApp>['pubsub'];
  /** The WebSocket transport. */
  readonly server: PubSubServer<ReturnType<typeof createDemoApp>['router']>;
  /** The HTTP server everything is served on. */
  readonly http: Server;
  /**
   * Cuts, from the server side, every connection of the clients named
   * `name` (their `connectionParams`): WebSockets are terminated, SSE
   * streams' sockets destroyed. Returns how many it cut. The clients
   * reconnect by themselves and resume.
   */
  drop(name: string): number;
  /** Stops the ticker, tells WebSocket clients to go, ends the streams, closes the hub. */
  close(): Promise<void>;
}

/**
 * Starts one demo instance and resolves once it listens.
 * @throws the `listen` error (`code` `EADDRINUSE`, …), after closing what it opened.
 * @example
 * ```ts
 * const demo = await startDemo({ port: 0 });
 * console.log(demo.url); // http://127.0.0.1:<port>/
 * await demo.close();
 * ```
 */
export async function startDemo(options: StartDemoOptions = {}): Promise<Demo> {
  const host = options.host ?? '127.0.0.1';
  const webDir = options.webDir ?? DEFAULT_WEB_DIR;
  const appOptions: DemoAppOptions = { engine: options.engine, chatHistory: options.chatHistory, logger: options.logger };
  const { pubsub, router } = createDemoApp(appOptions);
  /** The open connections of each client name: WebSockets and the sockets of SSE streams. */
  const byName = new Map<string, Set<WebSocket | Socket>>();
  const track = (name: string, connection: WebSocket | Socket, closed: (done: () => void) => void) => {
    let set = byName.get(name);
    if (set === undefined) byName.set(name, (set = new Set()));
    set.add(connection);
    closed(() => {
      set.delete(connection);
      if (set.size === 0 && byName.get(name) === set) byName.delete(name);
    });
  };

  const server = createPubSubServer({
    pubsub,
    router,
    // The second transport: an EventSource whose stream ended comes back after half a second (not the browsers' 3 s).
    sse: { retryMs: 500 },
    // The page's clients are tRPC 11.22 (what @trpc/tanstack-react-query 11.22.1 needs): they loop reconnecting after a
    // reconnect notice, so a shutdown closes their sockets at once instead; they come back (elsewhere) and resume.
    reconnectNotice: false,
    createContext: ({ res, info }) => {
      const name = nameFrom(info.connectionParams);
      if ('terminate' in res) track(name, res, (done) => res.once('close', done));
      else if (res.socket !== null && (info as { type?: string }).type === 'subscription') {
        // An SSE stream (the `sse` option): until its response ends.
        track(name, res.socket, (done) => res.once('close', done));
      }
      return { name };
    },
  });
  let triggered = 0;
  const http = createServer((req, res) => {
    // GET /health, /healthz, /readyz, /topics, /metrics, and tRPC over HTTP on /trpc/…: queries, mutations
    // (httpBatchLink) and SSE subscriptions (httpSubscriptionLink), with the WebSocket side's limits.
    if (server.handleHttp(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/trigger') {
      const publishing =
        url.searchParams.get('topic') === 'tick' ? pubsub.publish('tick') : pubsub.publish('news', { title: `Triggered #${++triggered}` });
      publishing.then(
        (event) => json(res, 200, { id: event.id, topic: event.topic, payload: event.payload }),
        (error: unknown) => json(res, 503, { error: String(error) }),
      );
      return;
    }
    serveStatic(webDir, req, res).then(
      (served) => {
        if (!served) json(res, 404, { error: 'not found' });
      },
      (error: unknown) => json(res, 500, { error: String(error) }),
    );
  });
  server.attach(http); // WebSocket upgrades on /trpc

  try {
    http.listen(options.port ?? 3000, host);
    await once(http, 'listening'); // rejects with the server's 'error' (EADDRINUSE, …)
  } catch (error) {
    await server.close();
    await pubsub.close();
    throw error;
  }
  const { port } = http.address() as AddressInfo;
  const address = host.includes(':') ? `[${host}]` : host;

  const symbol = options.tickerSymbol ?? `DEMO:${port}`;
  let seq = 0;
  let tickFailing = false;
  const ticker = setInterval(() => {
    seq++;
    const price = Math.round((100 + 5 * Math.sin(seq / 5) + seq / 100) * 100) / 100;
    pubsub.publish('ticker', { symbol, price, seq }).then(
      () => (tickFailing = false),
      (error: unknown) => {
        if (!tickFailing) console.error(`demo: ticker publish failed: ${String(error)}`);
        tickFailing = true; // one line per outage, not one per second
      },
    );
  }, options.tickMs ?? DEFAULT_TICK_MS);

  let closing: Promise<void> | undefined;
  return {
    url: `http://${address}:${port}/`,
    wsUrl: `ws://${address}:${port}/trpc`,
    port,
    pubsub,
    server,
    http,
    drop(name) {
      const connections = [...(byName.get(name) ?? [])];
      for (const connection of connections) {
        if ('terminate' in connection) connection.terminate();
        else connection.destroy();
      }
      return connections.length;
    },
    close() {
      closing ??= (async () => {
        clearInterval(ticker);
        http.close(); // stop accepting; idle keep-alive sockets close too
        await server.close();
        http.closeAllConnections(); // SSE streams
        await pubsub.close();
      })();
      return closing;
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
