/**
 * The page's connection, WebSocket or SSE, chosen once per page load.
 *
 * - `ws`: the convenience client (`createPubSubClient`, built on tRPC's
 *   `createWSClient` + `wsLink`); its `trpc` proxy (the stock client, same
 *   socket) serves TanStack Query, and `trpc-pubsub/react` uses the client.
 * - `sse`: the stock client with `splitLink`: subscriptions over
 *   `httpSubscriptionLink` (one EventSource each), queries and mutations
 *   over `httpBatchLink`.
 *
 * Both send the name as `connectionParams`; the server's `createContext`
 * reads it, and presence shows it.
 */
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, type TRPCClient } from '@trpc/client';
import { createPubSubClient, type PubSubClient } from 'trpc-pubsub/client';
import type { DemoRouter } from '../../demo-topics.js';
import { ConnectionStore } from './connection.js';
import type { TransportKind } from './settings.js';

/** One page load's connection. */
export interface Transport {
  kind: TransportKind;
  /** The stock tRPC client for TanStack Query. */
  trpcClient: TRPCClient<DemoRouter>;
  /** The convenience client (WebSocket only), for `trpc-pubsub/react`. */
  pubsub: PubSubClient<DemoRouter> | undefined;
  /** What the connection indicator shows. */
  connection: ConnectionStore;
}

/** Opens the connection of `kind` for the user `name`, on this page's server. */
export function createTransport(kind: TransportKind, name: string): Transport {
  const connection = new ConnectionStore();
  const connectionParams = { name };
  if (kind === 'ws') {
    const pubsub = createPubSubClient<DemoRouter>({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/trpc`,
      connectionParams,
      retry: { initialDelayMs: 200, maxDelayMs: 5000 },
      onStatusChange: (status) => {
        if (status === 'open') connection.opened();
        else if (status === 'reconnecting') connection.lost();
        else if (status === 'closed') connection.closed();
      },
    });
    return { kind, trpcClient: pubsub.trpc as TRPCClient<DemoRouter>, pubsub, connection };
  }
  const url = `${location.origin}/trpc`;
  const trpcClient = createTRPCClient<DemoRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url, connectionParams }),
        false: httpBatchLink({ url }),
      }),
    ],
  });
  return { kind, trpcClient, pubsub: undefined, connection };
}
