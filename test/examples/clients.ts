/** Test-side clients of the example servers, closed by {@link closeClients}. */
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { createPubSubClient, type PubSubClient, type PubSubClientOptions } from 'trpc-pubsub/client';
import WebSocket from 'ws';
import type { AppRouter } from '../../examples/app.js';

const open = new Set<{ close(): unknown }>();

/** The convenience client on `url`, with a short retry so tests never wait long. */
export function pubsubClient(url: string, options: Partial<PubSubClientOptions> = {}): PubSubClient<AppRouter> {
  const client = createPubSubClient<AppRouter>({ url, WebSocket, retry: { initialDelayMs: 50, maxDelayMs: 200 }, ...options });
  open.add(client);
  return client;
}

/** The stock tRPC client (`createWSClient` + `wsLink`) on `url`. */
export function stockClient(url: string) {
  // `ws` and the DOM WebSocket type differ slightly; the stock client accepts `ws` at runtime.
  const wsClient = createWSClient({ url, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, retryDelayMs: () => 100 });
  open.add(wsClient);
  return createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient })] });
}

/** Closes every client made here; for `afterEach`. */
export async function closeClients(): Promise<void> {
  const clients = [...open];
  open.clear();
  await Promise.all(clients.map((client) => client.close()));
}
