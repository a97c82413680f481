/**
 * SSE client, for networks that block WebSockets: the stock tRPC client
 * with `splitLink`, subscriptions over `httpSubscriptionLink` (Server-Sent
 * Events; Node needs the `eventsource` package, browsers have
 * `EventSource`), queries and publishes over `httpBatchLink`. The server
 * serves both on its path with `createPubSubServer({ …, sse: true })`.
 *
 *   npx tsx --conditions=@trpc-pubsub/source examples/split-link-client.ts [http://127.0.0.1:3000/trpc] [room]
 *   (or set PUBSUB_HTTP_URL)
 *
 * It follows a chat room, says hello in it, and prints what arrives until
 * Ctrl-C. When the stream drops (a proxy's timeout, the server's shutdown
 * or output budget), the EventSource comes back with `Last-Event-ID` and
 * the room's history replays what it missed; when a reconnection is
 * refused (`503` while the instance shuts down, `429`, `401` for an expired
 * session), `retryLink` subscribes again from the last event id.
 */
import { pathToFileURL } from 'node:url';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, retryLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { AppRouter } from './app.js';

/** Error codes another attempt cannot fix (a refused `authorize`, a bad input): the subscription ends with them. */
const FINAL_ERRORS = new Set(['FORBIDDEN', 'BAD_REQUEST', 'NOT_FOUND', 'PARSE_ERROR']);

/** The typed client on `url` (`http://host:port/trpc`): subscriptions over SSE, the rest batched over HTTP. */
export function createSplitLinkClient(url: string) {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: [
          // A refused or failed stream is asked for again, from the last event id (tRPC's retryLink keeps it).
          // Its attempt count never resets, so give up on the error, not on the count; the delay is capped.
          retryLink({
            retry: ({ error }) => !FINAL_ERRORS.has(error.data?.code ?? ''),
            retryDelayMs: (attempt) => Math.min(5_000, 50 * 2 ** Math.min(attempt, 7)),
          }),
          httpSubscriptionLink({ url, EventSource }),
        ],
        false: httpBatchLink({ url }),
      }),
    ],
  });
}

/** Follows `room`, says hello, and prints every message until the process ends. */
async function main(url: string, room: string): Promise<void> {
  const trpc = createSplitLinkClient(url);
  const subscription = await new Promise<{ unsubscribe(): void }>((resolve, reject) => {
    const sub = trpc.chat.events.subscribe(
      { key: room },
      {
        onStarted: () => resolve(sub),
        onData: ({ data }) => {
          if (data.kind === 'event') console.log(`chat [${data.key ?? room}] ${data.payload.user}: ${data.payload.text}`);
          else console.log(`gap: missed events older than the history (${data.reason})`);
        },
        onError: (error) => {
          console.error(`subscription failed: ${error.message}`);
          reject(error);
          process.exitCode = 1;
        },
      },
    );
  });
  console.log(`Subscribed to chat [${room}] over SSE at ${url}`);
  await trpc.chat.publish.mutate({ key: room, data: { user: 'split-link', text: 'hello over HTTP' } });
  process.once('SIGINT', () => subscription.unsubscribe());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv[2] ?? process.env['PUBSUB_HTTP_URL'] ?? 'http://127.0.0.1:3000/trpc', process.argv[3] ?? 'lobby');
}
