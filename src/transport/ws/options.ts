import type { IncomingMessage } from 'node:http';
import type { AnyTRPCRouter, inferRouterContext, TRPCError } from '@trpc/server';
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

/** What `createContext` gets: the upgrade request, the socket, and the client's connectionParams. */
export interface CreateContextOptions {
  /** The HTTP upgrade request. */
  req: IncomingMessage;
  /** The WebSocket (named `res` as in tRPC's adapters). */
  res: WebSocket;
  /** Connection info; `connectionParams` is what the client's `connectionParams` option sent. */
  info: { connectionParams: Record<string, string | undefined> | null };
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
   * gets the error and the socket closes.
   */
  createContext?: (opts: CreateContextOptions) => inferRouterContext<TRouter> | Promise<inferRouterContext<TRouter>>;
  /**
   * URL path the WebSocket endpoint answers on (other paths get 404 in
   * standalone mode and are left to other listeners when attached).
   * @default '/trpc'
   */
  path?: string;
  /**
   * Largest accepted frame, in bytes; a larger one closes the connection
   * with 1009 (the client reconnects).
   * @default 1_048_576
   */
  maxMessageBytes?: number;
  /**
   * Most subscriptions one connection may hold; one more is refused with
   * `TOO_MANY_REQUESTS`.
   * @default 1000
   */
  maxSubscriptionsPerConnection?: number;
  /**
   * Most messages in one batched frame; a larger batch is refused, every
   * request in it answered with `BAD_REQUEST`. The stock `wsLink` resends
   * every open subscription in one batch when it reconnects, so the default
   * follows the subscription limit rather than a smaller number.
   * @default maxSubscriptionsPerConnection (1000)
   */
  maxBatchSize?: number;
  /**
   * Server-sent `PING` after `pingMs` without a message from the client;
   * the connection is terminated if nothing comes within `pongWaitMs`.
   * @default { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 }
   */
  keepAlive?: { enabled: boolean; pingMs?: number; pongWaitMs?: number };
  /**
   * A subscriber whose socket send buffer exceeds `maxBufferedBytes` is
   * closed with 4429 (it reconnects and may resume); memory stays bounded.
   * @default { maxBufferedBytes: 8_388_608 }
   */
  slowConsumer?: { maxBufferedBytes: number };
  /**
   * How long `close()` waits for clients to leave after the reconnect
   * notice before closing them with 1001, in milliseconds.
   * @default 2000
   */
  shutdownGraceMs?: number;
  /** A connection opened (a throw is logged and ignored). */
  onConnect?: (connection: ConnectionInfo) => void;
  /**
   * A connection closed (a throw is logged and ignored). `code` is the close
   * code the client sent, or the one the server sent when it closed the
   * connection itself (1009 frame too big, 1002/1007 malformed frame, 4429
   * slow consumer, 1001 shutdown); 1006 when the connection ended without a
   * closing handshake (keepalive timeout, network loss).
   */
  onDisconnect?: (connection: ConnectionInfo & { code: number; reason: string }) => void;
  /** Every error returned to a client or raised by a socket. */
  onError?: (info: { error: TRPCError; path: string | undefined; type: string; input: unknown; ctx: unknown }) => void;
  /** Where logs go. @default the pubsub's logger */
  logger?: Logger;
}
