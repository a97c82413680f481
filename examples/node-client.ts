/**
 * Node client: subscribes to several topics, prints news, and exits (code 0)
 * on the first `tick`.
 *
 *   npx tsx --conditions=@trpc-pubsub/source examples/node-client.ts [ws://127.0.0.1:3000/trpc]
 *   (or set PUBSUB_URL)
 *
 * Then, with the demo server running:
 *   curl http://127.0.0.1:3000/trigger              # prints a headline
 *   curl 'http://127.0.0.1:3000/trigger?topic=tick' # exits
 */
import { createPubSubClient } from 'trpc-pubsub/client';
import WebSocket from 'ws';
import type { AppRouter } from './app.js';

const url = process.argv[2] ?? process.env['PUBSUB_URL'] ?? 'ws://127.0.0.1:3000/trpc';

const client = createPubSubClient<AppRouter>({
  url,
  WebSocket, // Node 20 has no global WebSocket
  onConnect: () => console.log(`Connected to ${url}`),
  onDisconnect: ({ code, willReconnect }) => console.log(`Disconnected (code ${code}), ${willReconnect ? 'reconnecting' : 'done'}`),
  retry: { initialDelayMs: 250, maxDelayMs: 5_000 },
});

const subscriptions = [
  client.subscribe('news', (event) => console.log(`news: ${event.payload.title}`)),
  client.subscribe('chat', (event) => console.log(`chat [${event.key}] ${event.payload.user}: ${event.payload.text}`)),
  client.subscribe('tick', (event) => {
    console.log(`tick ${event.id}, bye`);
    void client.close(); // ends every subscription; the process exits with code 0
  }),
];
await Promise.all(subscriptions.map((subscription) => subscription.started));
console.log('Subscribed to news, chat and tick; waiting for a tick.');
