/**
 * Topic subscriptions over SSE on the fast path: the same protocol as
 * tRPC's own SSE producer (what httpSubscriptionLink reads), one text per
 * event for every stream; the app's other subscriptions still go through
 * tRPC's adapter.
 */
import { request } from 'node:http';
import type { SubscriptionInfo } from 'trpc-pubsub';
import { describe, expect, it, vi } from 'vitest';
import { adminOnlySecret } from '../fixtures/app.js';
import { listen } from '../fixtures/clients.js';
import { expectIdle, startServer } from '../fixtures/server.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { deadPort, sseClient } from './sse-clients.js';

/** Reads a raw SSE stream until `until` matches what arrived, then closes it. */
function readStream(url: string, until: RegExp, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (until.test(text)) {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
          res.destroy();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('topic subscriptions over SSE, on the fast path', () => {
  it("writes tRPC's framing: the headers, connected, then data and id lines per event", async () => {
    await using srv = await startServer({ server: { sse: true } });
    const url = `${srv.httpUrl}/trpc/chat.events?input=${encodeURIComponent(JSON.stringify({ key: 'r1' }))}`;
    const reading = readStream(url, /id: [^\n]+\n\n\n[\s\S]*id: [^\n]+\n\n\n/);
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));
    const first = await srv.pubsub.publish('chat', { user: 'ann', text: 'one' }, { key: 'r1' });
    const second = await srv.pubsub.publish('chat', { user: 'bob', text: 'two' }, { key: 'r1' });
    const { status, headers, text } = await reading;
    expect(status).toBe(200);
    expect(headers).toMatchObject({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' });
    expect(text).toBe(
      'event: connected\ndata: {}\n\n\n' +
        `data: ${JSON.stringify({ kind: 'event', topic: 'chat', payload: { user: 'ann', text: 'one' }, ts: first.ts, key: 'r1' })}\nid: ${first.id}\n\n\n` +
        `data: ${JSON.stringify({ kind: 'event', topic: 'chat', payload: { user: 'bob', text: 'two' }, ts: second.ts, key: 'r1' })}\nid: ${second.id}\n\n\n`,
    );
    await expectIdle(srv);
  });

  it('serves topic subscriptions itself (origin "sse") and leaves the app\'s own subscriptions to tRPC', async () => {
    const opened: SubscriptionInfo[] = [];
    await using srv = await startServer({ server: { sse: true }, pubsub: { onSubscribe: (info) => opened.push(info) } });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`);
    const chat = listen(trpc.chat.events, { key: 'r1' });
    await chat.started;
    expect(opened.map((info) => info.origin)).toEqual(['sse']);
    const counted: number[] = [];
    const done = new Promise<void>((resolve) => {
      trpc.countdown.subscribe({ from: 2 }, { onData: (n) => void counted.push(n as number), onComplete: resolve, onError: () => resolve() });
    });
    await done;
    expect(counted).toEqual([2, 1, 0]);
  });

  it('resumes through an all-topics cursor after the stream is cut: what history kept, once, and a gap for each topic without history', async () => {
    await using srv = await startServer({ server: { sse: { retryMs: 20 } } });
    await using proxy = await TcpProxy.start(Number(new URL(srv.httpUrl).port));
    const { trpc } = sseClient(`http://127.0.0.1:${proxy.port}/trpc`, { retry: true });
    const all = listen(trpc.allTopics.events, undefined);
    await all.started;
    await srv.pubsub.publish('chat', { user: 'ann', text: 'one' }, { key: 'r1' });
    await srv.pubsub.publish('news', { title: 'first' });
    await vi.waitFor(() => expect(all.data.items).toHaveLength(2));
    proxy.retarget(await deadPort()); // the EventSource's reconnections fail until the missed event is published
    proxy.cut();
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(0));
    await srv.pubsub.publish('chat', { user: 'ann', text: 'while away' }, { key: 'r2' });
    proxy.retarget(Number(new URL(srv.httpUrl).port));
    await vi.waitFor(() => expect(all.data.items).toHaveLength(3), { timeout: 5000 });
    await srv.pubsub.publish('chat', { user: 'bob', text: 'after' }, { key: 'r1' });
    await vi.waitFor(() => expect(all.data.items).toHaveLength(4));
    expect(all.data.items.map((item) => JSON.stringify(item.data.kind === 'event' && 'payload' in item.data ? item.data.payload : null))).toEqual([
      JSON.stringify({ user: 'ann', text: 'one' }),
      JSON.stringify({ title: 'first' }),
      JSON.stringify({ user: 'ann', text: 'while away' }),
      JSON.stringify({ user: 'bob', text: 'after' }),
    ]);
    // Only chat keeps history: each other topic is told it could not replay (it may have missed events), in name order.
    expect(all.gaps.items.map((item) => [item.data.topic, item.data.reason])).toEqual([
      ['audit', 'unsupported'],
      ['news', 'unsupported'],
      ['secret', 'unsupported'],
      ['tick', 'unsupported'],
    ]);
  });

  it('answers a refused subscription as tRPC does: connected, then a serialized-error the stock link turns into FORBIDDEN', async () => {
    await using srv = await startServer({ server: { sse: true }, pubsub: { authorize: adminOnlySecret } });
    const url = `${srv.httpUrl}/trpc/secret.events`;
    const { status, text } = await readStream(url, /event: serialized-error\ndata: [^\n]+\n\n\n/);
    expect(status).toBe(200);
    expect(text).toMatch(/^event: connected\ndata: \{\}\n\n\nevent: serialized-error\ndata: \{"message":"[^"]*","code":-32003,"data":\{"code":"FORBIDDEN"/);
    await expectIdle(srv);
  });
});
