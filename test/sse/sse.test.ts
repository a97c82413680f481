/**
 * The SSE fallback: the same router over tRPC's own HTTP adapter
 * (`createHTTPHandler`) and `httpSubscriptionLink`, for networks that block
 * WebSockets. Topic subscriptions are served there by the core's bounded
 * iterator: events arrive typed, and a client that comes back with
 * `lastEventId` is replayed what it missed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { EventSource } from 'eventsource';
import { createPubSub, silentLogger } from 'trpc-pubsub';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTestRouter, topics, type TestRouter } from '../fixtures/app.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

async function sseServer() {
  const pubsub = createPubSub({ topics, logger: silentLogger });
  const router = createTestRouter(pubsub);
  const handler = createHTTPHandler({ router, basePath: '/trpc/', createContext: () => ({}) });
  const http: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/trpc`;
  open.push({
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await pubsub.close();
    },
  });
  return { pubsub, url, http };
}

function sseClient(url: string) {
  return createTRPCClient<TestRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url, EventSource }),
        false: httpBatchLink({ url }),
      }),
    ],
  });
}

describe('topics over SSE (httpSubscriptionLink)', () => {
  it('delivers typed events of a keyed topic and publishes through the same router', async () => {
    const { pubsub, url } = await sseServer();
    const client = sseClient(url);
    const texts: string[] = [];
    let started = false;
    const sub = client.chat.events.subscribe({ key: 'room-1' }, {
      onStarted: () => (started = true),
      onData: ({ data }) => {
        if (data.kind === 'event') texts.push(data.payload.text);
      },
    });
    open.push({ close: async () => sub.unsubscribe() });
    await vi.waitFor(() => expect(started).toBe(true));
    await vi.waitFor(() => expect(pubsub.health().subscriptions).toBe(1));

    await client.chat.publish.mutate({ key: 'room-1', data: { user: 'ann', text: 'one' } });
    await pubsub.publish('chat', { user: 'bob', text: 'two' }, { key: 'room-1' });

    await vi.waitFor(() => expect(texts).toEqual(['one', 'two']));
  });

  it('resumes after the server drops the stream: the EventSource comes back with Last-Event-ID and gets exactly what it missed', async () => {
    const { pubsub, url, http } = await sseServer();
    const client = sseClient(url);
    const texts: string[] = [];
    const sub = client.chat.events.subscribe({ key: 'room-1' }, {
      onData: ({ data }) => {
        if (data.kind === 'event') texts.push(data.payload.text);
      },
    });
    open.push({ close: async () => sub.unsubscribe() });
    await vi.waitFor(() => expect(pubsub.health().subscriptions).toBe(1));
    await pubsub.publish('chat', { user: 'ann', text: 'before' }, { key: 'room-1' });
    await vi.waitFor(() => expect(texts).toEqual(['before']));

    http.closeAllConnections(); // the proxy or the server cut the stream
    await vi.waitFor(() => expect(pubsub.health().subscriptions).toBe(0));
    await pubsub.publish('chat', { user: 'ann', text: 'missed 1' }, { key: 'room-1' });
    await pubsub.publish('chat', { user: 'ann', text: 'missed 2' }, { key: 'room-1' });

    await vi.waitFor(() => expect(texts).toEqual(['before', 'missed 1', 'missed 2']), { timeout: 10_000 });
    await pubsub.publish('chat', { user: 'ann', text: 'after' }, { key: 'room-1' });
    await vi.waitFor(() => expect(texts).toEqual(['before', 'missed 1', 'missed 2', 'after']));
  });

  it('forgets the subscription on the server when the client unsubscribes', async () => {
    const { pubsub, url } = await sseServer();
    const client = sseClient(url);
    const sub = client.news.events.subscribe(undefined, { onData: () => undefined });
    await vi.waitFor(() => expect(pubsub.health().subscriptions).toBe(1));

    sub.unsubscribe();

    await vi.waitFor(() => expect(pubsub.health()).toMatchObject({ subscriptions: 0, channels: 0 }));
  });
});
