/**
 * The client side of `sub` and `pub`: the package's own convenience client
 * (`trpc-pubsub/client`) on `ws`'s WebSocket (Node 20 has no global one),
 * with the first connection bounded in time and reported as one line.
 * @module
 */
import WebSocket from 'ws';
import { createPubSubClient, type ClientSubscription, type ConnectionError, type SubscriptionOptions } from 'trpc-pubsub/client';
import type { ChannelKey, PubSubEvent } from '../../client/protocol.js';
import { usageError } from './exit-codes.js';
import { note } from './output.js';
import { rootMessage } from './server-url.js';

/** What the CLI uses of the client, untyped by any router (it serves whatever topics the server has). */
export interface CliClient {
  subscribe(topic: string, options: SubscriptionOptions & { key?: ChannelKey }, callback: (event: PubSubEvent) => void): ClientSubscription;
  subscribeAll(callback: (event: PubSubEvent) => void, options: SubscriptionOptions): ClientSubscription;
  publish(topic: string, data: unknown, options?: { key: ChannelKey }): Promise<{ id: string }>;
  close(): Promise<void>;
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** How long the first connection may take, in milliseconds. */
  timeoutMs: number;
  /** Sent as `connectionParams` (the server's `createContext` reads them, e.g. a token). */
  params?: Record<string, string> | undefined;
  /** A subscription failed on the server (not retried). */
  onSubscriptionError?: (error: unknown, topic: string) => void;
  /** Say on stderr when the connection is lost and back (for `sub`). */
  reportReconnects?: boolean;
}

/**
 * Opens a client on `url` and waits for its first connection.
 * @throws CliError (exit 2, `cannot connect to <url>: <cause>`) when the
 *   first attempt fails or nothing answers within `timeoutMs`; later
 *   disconnections are retried with backoff.
 */
export async function connect(url: URL, options: ConnectOptions): Promise<CliClient> {
  let connected = false;
  let failFirst: ((error: Error) => void) | undefined;
  const firstFailure = new Promise<never>((_, reject) => {
    failFirst = reject;
  });
  const client = createPubSubClient({
    url: url.href,
    WebSocket,
    connectionParams: options.params,
    retry: { initialDelayMs: 250, maxDelayMs: 5000 },
    onError: (error: ConnectionError) => {
      if (!connected) failFirst?.(usageError(`cannot connect to ${url.href}: ${rootMessage(error)}`, error));
    },
    onConnect: () => {
      if (connected && options.reportReconnects === true) note(`reconnected to ${url.href}`);
      connected = true;
    },
    onDisconnect: ({ code, willReconnect }) => {
      if (options.reportReconnects === true && willReconnect) note(`connection lost (close code ${code ?? 'none'}); reconnecting`);
    },
    onSubscriptionError: (error, topic) => options.onSubscriptionError?.(error, topic),
    onGap: () => undefined, // every CLI subscription has its own onGap
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(usageError(`cannot connect to ${url.href}: no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
  });
  try {
    await Promise.race([client.ready(), firstFailure, timeout]);
  } catch (error) {
    await client.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return client as unknown as CliClient;
}
