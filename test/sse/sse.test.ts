/**
 * The SSE transport (`sse: true`): the same router over tRPC's HTTP
 * protocol on the server's path, for networks that block WebSockets.
 * Topic subscriptions are served there by the core's bounded iterator:
 * events arrive typed, and a client that comes back with `lastEventId`
 * (the EventSource's `Last-Event-ID`) is replayed what it missed.
 */
import { once } from 'node:events';
import { Agent, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { initTRPC } from '@trpc/server';
import { createPubSub, createPubSubServer, silentLogger, topicProcedures, type CreateContextOptions } from 'trpc-pubsub';
import { describe, expect, it, vi } from 'vitest';
import { adminOnlySecret, createTestRouter, topics } from '../fixtures/app.js';
import { listen, stockClient } from '../fixtures/clients.js';
import { expectIdle, startServer } from '../fixtures/server.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { deadPort, openStream, probe, sseClient } from './sse-clients.js';

describe('topics over SSE (httpSubscriptionLink, sse: true)', () => {
  it('delivers typed events of a keyed topic and publishes through the same router', async () => {
    await using srv = await startServer({ server: { sse: true } });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`);
    const sub = listen(trpc.chat.events, { key: 'room-1' });
    await sub.started;
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));

    await trpc.chat.publish.mutate({ key: 'room-1', data: { user: 'ann', text: 'one' } });
    await srv.pubsub.publish('chat', { user: 'bob', text: 'two' }, { key: 'room-1' });

    const texts = (await sub.data.take(2)).map(({ data }) => data.payload.text);
    expect(texts).toEqual(['one', 'two']);
    expect(await trpc.hello.query()).toBe('world');
  });

  it('resumes after the network cuts the stream: the EventSource comes back with Last-Event-ID and gets exactly what it missed', async () => {
    await using srv = await startServer({ server: { sse: { retryMs: 20 } } });
    await using proxy = await TcpProxy.start(Number(new URL(srv.httpUrl).port));
    const { trpc } = sseClient(`http://127.0.0.1:${proxy.port}/trpc`);
    const sub = listen(trpc.chat.events, { key: 'room-1' });
    await sub.started;
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));
    await srv.pubsub.publish('chat', { user: 'ann', text: 'before' }, { key: 'room-1' });
    expect((await sub.data.next()).data.payload.text).toBe('before');

    proxy.retarget(await deadPort()); // the EventSource's reconnections fail until the missed events are published
    proxy.cut();
    await vi.waitFor(() => expect(srv.server.health()).toMatchObject({ subscriptions: 0, sseStreams: 0 }));
    await srv.pubsub.publish('chat', { user: 'ann', text: 'missed 1' }, { key: 'room-1' });
    await srv.pubsub.publish('chat', { user: 'ann', text: 'missed 2' }, { key: 'room-1' });
    proxy.retarget(Number(new URL(srv.httpUrl).port));

    const resumed = await sub.data.take(2);
    expect(resumed.map(({ data }) => data.payload.text)).toEqual(['missed 1', 'missed 2']);
    await srv.pubsub.publish('chat', { user: 'ann', text: 'after' }, { key: 'room-1' });
    expect((await sub.data.next()).data.payload.text).toBe('after');
    await sub.data.nothing();
  });

  it('forgets the subscription and the stream on the server when the client unsubscribes', async () => {
    await using srv = await startServer({ server: { sse: true } });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`);
    const sub = listen(trpc.news.events, undefined);
    await sub.started;
    await vi.waitFor(() => expect(srv.server.health()).toMatchObject({ connections: 1, sseStreams: 1, subscriptions: 1 }));

    sub.unsubscribe();

    await expectIdle(srv);
    expect(srv.server.health()).toMatchObject({ connections: 0, sseStreams: 0 });
  });

  it('serves the app’s own async-generator subscription to its end (tRPC’s return event)', async () => {
    await using srv = await startServer({ server: { sse: true } });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`);
    const sub = listen(trpc.countdown, { from: 2 });
    await sub.completed;
    expect(sub.data.items.map((item) => item as unknown)).toEqual([2, 1, 0]);
    await expectIdle(srv);
    // The stream's keep-alive socket is reused for what follows (no write of the stream left corked on it).
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const streamed = await probe(`${srv.httpUrl}/trpc/countdown?input=${encodeURIComponent('{"from":1}')}`, { agent, readStream: true });
    expect(streamed.body).toMatch(/event: return/);
    const next = await probe(`${srv.httpUrl}/trpc/hello`, { agent });
    expect(next.body).toEqual({ result: { data: 'world' } });
    expect(next.response.socket).toBe(streamed.response.socket);
    agent.destroy();
  });

  it('builds the context with the same createContext, per request: connectionParams from the stream URL, the request and its ServerResponse', async () => {
    const calls: CreateContextOptions[] = [];
    await using srv = await startServer({
      server: {
        sse: true,
        createContext: (options) => {
          calls.push(options);
          return { user: options.info.connectionParams?.['user'] };
        },
      },
    });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`, { connectionParams: { user: 'ann' } });
    const sub = listen(trpc.news.events, undefined);
    await sub.started;
    expect(await trpc.whoami.query()).toBeNull(); // httpBatchLink sends no connectionParams: headers or cookies carry auth there

    expect(calls).toHaveLength(2);
    expect(calls[0]?.info).toMatchObject({ connectionParams: { user: 'ann' }, type: 'subscription' });
    expect(calls[0]?.req.url).toMatch(/^\/trpc\/news\.events\?connectionParams=/);
    expect(calls[0]?.res).toBeInstanceOf(ServerResponse);
    expect(calls[1]?.info).toMatchObject({ connectionParams: null, type: 'query' });
  });

  it('applies authorize over SSE as over WebSocket: FORBIDDEN ends the subscription with the error, an allowed user subscribes', async () => {
    await using srv = await startServer({ pubsub: { authorize: adminOnlySecret }, server: { sse: true } });
    const bob = sseClient(`${srv.httpUrl}/trpc`, { connectionParams: { user: 'bob' } });
    const refused = listen(bob.trpc.secret.events, undefined);
    expect((await refused.error).data).toMatchObject({ code: 'FORBIDDEN' });

    const admin = sseClient(`${srv.httpUrl}/trpc`, { connectionParams: { user: 'admin' } });
    const allowed = listen(admin.trpc.secret.events, undefined);
    await allowed.started;
    await srv.pubsub.publish('secret', { code: '42' });
    expect((await allowed.data.next()).data.payload).toEqual({ code: '42' });
  });

  it('keeps an idle stream alive with the ping of the router’s own sse config', async () => {
    const pubsub = createPubSub({ topics, logger: silentLogger });
    const t = initTRPC.create({ sse: { ping: { enabled: true, intervalMs: 20 } } });
    const router = t.router(topicProcedures(pubsub));
    const server = createPubSubServer({ pubsub, router, sse: true, keepAlive: { enabled: false } });
    const { httpUrl } = await server.listen();
    try {
      const stream = await openStream(`${httpUrl}/trpc/news.events`);
      let text = '';
      await new Promise<void>((resolve) => {
        stream.response.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          if (text.split('event: ping').length > 2) resolve();
        });
      });
      expect(text).toMatch(/^event: connected\n/);
      stream.close();
    } finally {
      await server.close();
      await pubsub.close();
    }
  });

  it('writes the retry field first when sse.retryMs is set, so an EventSource comes back that soon', async () => {
    await using srv = await startServer({ server: { sse: { retryMs: 250 } } });
    const stream = await openStream(`${srv.httpUrl}/trpc/news.events`);
    let text = '';
    await new Promise<void>((resolve) => {
      stream.response.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (text.includes('event: connected')) resolve();
      });
    });
    expect(text).toMatch(/^retry: 250\n\nevent: connected\n/);
  });

  it('serves HTTP and SSE inside an Express app (its body parser first) beside WebSockets on the same port', async () => {
    const pubsub = createPubSub({ topics, logger: silentLogger });
    const router = createTestRouter(pubsub);
    const server = createPubSubServer({ pubsub, router, sse: true, keepAlive: { enabled: false } });
    const app = express();
    app.use(express.json());
    app.use((req, res, next) => {
      if (!server.handleHttp(req, res)) next();
    });
    const http = app.listen(0, '127.0.0.1');
    await once(http, 'listening');
    server.attach(http);
    const port = (http.address() as AddressInfo).port;
    try {
      const { trpc } = sseClient(`http://127.0.0.1:${port}/trpc`);
      const sub = listen(trpc.news.events, undefined);
      await sub.started;
      expect(await trpc.echo.mutate({ text: 'parsed by express' })).toBe('parsed by express');
      const ws = stockClient(`ws://127.0.0.1:${port}/trpc`);
      await ws.trpc.news.publish.mutate({ data: { title: 'over ws' } });
      expect((await sub.data.next()).data.payload).toEqual({ title: 'over ws' });
      expect(server.health()).toMatchObject({ connections: 2, sseStreams: 1 });
      await ws.close();
      sub.unsubscribe();
    } finally {
      await server.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await pubsub.close();
    }
  });

  it('answers a query that asked for an event stream with plain JSON, and frees the connection slot it held meanwhile', async () => {
    await using srv = await startServer({ server: { sse: { retryMs: 250 }, maxConnections: 1 } });
    const query = await probe(`${srv.httpUrl}/trpc/hello`, { headers: { accept: 'text/event-stream' } });
    expect(query).toMatchObject({ status: 200, body: { result: { data: 'world' } } });
    const missing = await probe(`${srv.httpUrl}/trpc/nothing.here`, { headers: { accept: 'text/event-stream' } });
    expect(missing).toMatchObject({ status: 404, body: { error: { data: { code: 'NOT_FOUND' } } } });
    await vi.waitFor(() => expect(srv.server.health()).toMatchObject({ connections: 0, sseStreams: 0 }));
  });

  it('refuses an sse.retryMs that is not a whole number of milliseconds', async () => {
    const pubsub = createPubSub({ topics, logger: silentLogger });
    expect(() => createPubSubServer({ pubsub, router: createTestRouter(pubsub), sse: { retryMs: 1.5 } })).toThrow(RangeError);
    expect(() => createPubSubServer({ pubsub, router: createTestRouter(pubsub), sse: { retryMs: -1 } })).toThrow(RangeError);
    await pubsub.close();
  });

  it('follows the path option, the root included, where the built-in endpoints come first', async () => {
    await using custom = await startServer({ server: { sse: true, path: '/rt' } });
    expect((await probe(`${custom.httpUrl}/rt/hello`)).body).toEqual({ result: { data: 'world' } });
    expect((await probe(`${custom.httpUrl}/trpc/hello`)).status).toBe(404);

    await using root = await startServer({ server: { sse: true, path: '/' } });
    expect((await probe(`${root.httpUrl}/hello`)).body).toEqual({ result: { data: 'world' } });
    expect((await probe(`${root.httpUrl}/health`)).body).toMatchObject({ status: 'ok', sseStreams: 0 });
    const { trpc } = sseClient(root.httpUrl);
    const sub = listen(trpc.news.events, undefined);
    await sub.started;
    expect(root.server.health().sseStreams).toBe(1);
  });

  it('leaves HTTP on the path alone without sse (404, as before)', async () => {
    await using srv = await startServer();
    expect((await probe(`${srv.httpUrl}/trpc/hello`)).status).toBe(404);
  });
});
