/**
 * Client-to-client chat through the server: every line typed is published
 * on the `chat` topic, keyed by room; messages from others in the room are
 * printed. Run it in two terminals with the demo server up:
 *
 *   npx tsx --conditions=@trpc-pubsub/source examples/chat.ts lobby ann
 *   npx tsx --conditions=@trpc-pubsub/source examples/chat.ts lobby bob
 *
 * The server URL is the third argument or PUBSUB_URL (default
 * ws://127.0.0.1:3000/trpc). End input (Ctrl-D) to leave.
 */
import { createInterface } from 'node:readline';
import { createPubSubClient } from 'trpc-pubsub/client';
import WebSocket from 'ws';
import type { AppRouter } from './app.js';

const [room, name, url = process.env['PUBSUB_URL'] ?? 'ws://127.0.0.1:3000/trpc'] = process.argv.slice(2);
if (room === undefined || name === undefined) {
  console.error('usage: chat.ts <room> <name> [ws-url]');
  process.exit(2);
}

const client = createPubSubClient<AppRouter>({ url, WebSocket });

const subscription = client.subscribe('chat', { key: room }, (event) => {
  if (event.payload.user !== name) console.log(`${event.payload.user}: ${event.payload.text}`);
});
await subscription.started;
console.log(`Joined ${room} as ${name}.`);

for await (const line of createInterface({ input: process.stdin })) {
  const text = line.trim();
  if (text === '') continue;
  try {
    await client.publish('chat', { user: name, text }, { key: room });
  } catch (error) {
    console.error(`not sent: ${error instanceof Error ? error.message : String(error)}`);
  }
}
await client.close();
