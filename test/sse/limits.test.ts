/**
 * The WebSocket server's limits over its HTTP transport (`sse: true`),
 * each at and past its value: the Origin check, the connection caps (an
 * open SSE stream is a connection, counted with the WebSockets), the
 * per-IP request bucket, the body size, the output budget of a stream,
 * session expiry, graceful shutdown, health and metrics.
 */
import { TRPCClientError } from '@trpc/client';
import { createPubSubServer } from 'trpc-pubsub';
import { describe, expect, it, vi } from 'vitest';
import { listen, rawClient, upgradeStatus } from '../fixtures/clients.js';
import { expectIdle, startServer } from '../fixtures/server.js';
import { openStream, probe, sseClient } from './sse-clients.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';

const STREAM = { accept: 'text/event-stream' };

describe('allowedOrigins over HTTP', () => {
  it('refuses a foreign Origin with 403 (FORBIDDEN body), lets the same origin and requests without Origin through', async () => {
    await using srv = await startServer({ server: { sse: true } });
    const url = `${srv.httpUrl}/trpc/hello`;

    const foreign = await probe(url, { headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatchObject({ error: { message: 'Origin not allowed', data: { code: 'FORBIDDEN' } } });
    expect((await probe(`${srv.httpUrl}/trpc/news.events`, { headers: { ...STREAM, origin: 'https://evil.example' } })).status).toBe(403);
    expect((await probe(url, { headers: { origin: srv.httpUrl } })).body).toEqual({ result: { data: 'world' } });
    expect((await probe(url)).status).toBe(200);
    expect(await srv.server.metrics()).toMatch(/trpc_pubsub_connections_refused_total\{reason="origin"\} 2/);
  });

  it('lets a listed origin through, with the CORS headers a browser on that origin needs (preflight included)', async () => {
    await using srv = await startServer({ server: { sse: true, allowedOrigins: ['https://app.example'] } });
    const url = `${srv.httpUrl}/trpc/hello`;
    const listed = await probe(url, { headers: { origin: 'https://app.example' } });
    expect(listed.status).toBe(200);
    expect(listed.headers).toMatchObject({ 'access-control-allow-origin': 'https://app.example', 'access-control-allow-credentials': 'true' });
    expect(listed.headers.vary).toMatch(/\bOrigin\b/);
    const stream = await probe(`${srv.httpUrl}/trpc/news.events`, { headers: { ...STREAM, origin: 'https://app.example' } });
    expect(stream.status).toBe(200);
    expect(stream.headers['access-control-allow-origin']).toBe('https://app.example');

    const preflight = await probe(`${srv.httpUrl}/trpc/echo`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type' });

    const other = await probe(url, { headers: { origin: 'https://other.example' } });
    expect(other.status).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect((await probe(url, { method: 'OPTIONS', headers: { origin: 'https://other.example', 'access-control-request-method': 'GET' } })).status).toBe(403);
  });

  it("gives '*' any origin without credentials, and same-origin requests no CORS headers", async () => {
    await using any = await startServer({ server: { sse: true, allowedOrigins: '*' } });
    const open = await probe(`${any.httpUrl}/trpc/hello`, { headers: { origin: 'https://anywhere.example' } });
    expect(open.headers['access-control-allow-origin']).toBe('*');
    expect(open.headers['access-control-allow-credentials']).toBeUndefined();
    const same = await probe(`${any.httpUrl}/trpc/hello`, { headers: { origin: any.httpUrl } });
    expect(same.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('connection caps over SSE (streams count with the WebSockets)', () => {
  it('maxConnections: streams and sockets up to the cap, then 503 with Retry-After for either; queries are not connections', async () => {
    await using srv = await startServer({ server: { sse: true, maxConnections: 2 } });
    const events = `${srv.httpUrl}/trpc/news.events`;
    expect(await upgradeStatus(srv.url)).toBe(101);
    const stream = await openStream(events);
    expect(stream.status).toBe(200);
    await vi.waitFor(() => expect(srv.server.health()).toMatchObject({ connections: 2, sseStreams: 1 }));

    const refused = await probe(events, { headers: STREAM });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({ error: { data: { code: 'SERVICE_UNAVAILABLE' } } });
    expect(await upgradeStatus(srv.url)).toBe(503);
    expect((await probe(`${srv.httpUrl}/trpc/hello`)).status).toBe(200);

    stream.close();
    await vi.waitFor(() => expect(srv.server.connectionCount).toBe(1));
    expect((await openStream(events)).status).toBe(200);
  });

  it('maxConnectionsPerIp: two streams from one IP, the third gets 429 with Retry-After; a WebSocket from that IP too', async () => {
    await using srv = await startServer({ server: { sse: true, maxConnectionsPerIp: 2 } });
    const events = `${srv.httpUrl}/trpc/news.events`;
    expect((await openStream(events)).status).toBe(200);
    expect((await openStream(events)).status).toBe(200);

    const refused = await probe(events, { headers: STREAM });
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({ error: { data: { code: 'TOO_MANY_REQUESTS' } } });
    expect(await upgradeStatus(srv.url)).toBe(429);
    expect(await srv.server.metrics()).toMatch(/trpc_pubsub_connections_refused_total\{reason="max_connections_per_ip"\} 2/);
  });

  it('a subscription through the stock httpSubscriptionLink counts, and its end frees the slot', async () => {
    await using srv = await startServer({ server: { sse: true, maxConnections: 1 } });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`);
    const sub = listen(trpc.news.events, undefined);
    await sub.started;
    expect(await upgradeStatus(srv.url)).toBe(503);
    sub.unsubscribe();
    await expectIdle(srv);
    expect(await upgradeStatus(srv.url, {}, { closeAtOnce: true })).toBe(101);
  });
});

describe('rateLimit over HTTP (per client IP)', () => {
  it('takes one token per call: a burst passes, the next request gets 429 with a TOO_MANY_REQUESTS body and Retry-After', async () => {
    await using srv = await startServer({ server: { sse: true, rateLimit: { requestsPerSecond: 1, burst: 3 } } });
    const url = `${srv.httpUrl}/trpc/hello`;
    for (let i = 0; i < 3; i++) expect((await probe(url)).status).toBe(200);

    const refused = await probe(url);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({ error: { message: 'More than 1 requests per second (burst 3)', data: { code: 'TOO_MANY_REQUESTS', path: 'hello' } } });
    expect(await srv.server.metrics()).toMatch(/trpc_pubsub_rate_limited_total 1/);
  });

  it('answers a batch past the bucket with one error per call, which the stock httpBatchLink surfaces as TRPCClientError', async () => {
    await using srv = await startServer({ server: { sse: true, rateLimit: { requestsPerSecond: 1, burst: 2 } } });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`);
    expect(await Promise.all([trpc.hello.query(), trpc.whoami.query()])).toEqual(['world', null]); // one batch, two tokens

    const batch = await probe(`${srv.httpUrl}/trpc/hello,whoami?batch=1&input=${encodeURIComponent('{}')}`);
    expect(batch.status).toBe(429);
    expect(batch.body).toMatchObject([{ error: { data: { code: 'TOO_MANY_REQUESTS', path: 'hello' } } }, { error: { data: { path: 'whoami' } } }]);
    const error = await trpc.hello.query().catch((cause: unknown) => cause);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
  });

  it('counts IPs apart, and is off with rateLimit: false', async () => {
    await using srv = await startServer({ server: { sse: true, trustProxy: true, rateLimit: { requestsPerSecond: 1, burst: 1 } } });
    const url = `${srv.httpUrl}/trpc/hello`;
    expect((await probe(url, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status).toBe(200);
    expect((await probe(url, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status).toBe(429);
    expect((await probe(url, { headers: { 'x-forwarded-for': '10.0.0.2' } })).status).toBe(200);

    await using off = await startServer({ server: { sse: true, rateLimit: false } });
    for (let i = 0; i < 20; i++) expect((await probe(`${off.httpUrl}/trpc/hello`)).status).toBe(200);
  });
});

describe('maxBatchSize over HTTP (calls in one batch)', () => {
  it('takes a batch of maxBatchSize calls and refuses a larger one with BAD_REQUEST', async () => {
    await using srv = await startServer({ server: { sse: true, maxBatchSize: 2 } });
    const batch = (paths: string[]) => probe(`${srv.httpUrl}/trpc/${paths.join(',')}?batch=1&input=${encodeURIComponent('{}')}`);
    expect((await batch(['hello', 'hello'])).status).toBe(200);
    const tooBig = await batch(['hello', 'hello', 'hello']);
    expect(tooBig.status).toBe(400);
    expect(JSON.stringify(tooBig.body)).toMatch(/BAD_REQUEST/);
  });
});

describe('maxMessageBytes over HTTP (the body size)', () => {
  it('takes a body of exactly maxMessageBytes and refuses one byte more with 413 PAYLOAD_TOO_LARGE', async () => {
    const limit = 1024;
    await using srv = await startServer({ server: { sse: true, maxMessageBytes: limit } });
    const bodyOf = (bytes: number) => JSON.stringify({ text: 'x'.repeat(bytes - '{"text":""}'.length) });
    const post = (body: string) => probe(`${srv.httpUrl}/trpc/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(bodyOf(limit)).toHaveLength(limit);

    const fits = await post(bodyOf(limit));
    expect(fits.status).toBe(200);
    const tooBig = await post(bodyOf(limit + 1));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ error: { data: { code: 'PAYLOAD_TOO_LARGE' } } });
  });
});

describe('slowConsumer over SSE (the output budget of a stream)', () => {
  const budget = 64 * 1024;
  const payload = { user: 'ann', text: 'x'.repeat(16 * 1024) };

  it('ends a stream whose unwritten bytes pass the budget (counted as a slow-consumer close), and releases its subscription and slot', async () => {
    await using srv = await startServer({ server: { sse: true, slowConsumer: { maxBufferedBytes: budget } } });
    const stream = await openStream(`${srv.httpUrl}/trpc/chat.events?input=${encodeURIComponent(JSON.stringify({ key: 'r' }))}`);
    stream.response.pause(); // the client stops reading: the kernel's buffers fill, then the server's
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));

    let published = 0;
    while (srv.server.connectionCount > 0 && published < 2000) {
      await srv.pubsub.publish('chat', payload, { key: 'r' });
      published++;
      await new Promise((resolve) => setImmediate(resolve));
    }

    expect(srv.server.connectionCount).toBe(0);
    await expectIdle(srv);
    expect(await srv.server.metrics()).toMatch(/trpc_pubsub_slow_consumer_closes_total 1/);
  });

  it('keeps a stream that reads: the same events within the budget arrive, all of them', async () => {
    await using srv = await startServer({ server: { sse: true, slowConsumer: { maxBufferedBytes: budget } } });
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`);
    const sub = listen(trpc.chat.events, { key: 'r' });
    await sub.started;
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));

    for (let i = 0; i < 50; i++) {
      await srv.pubsub.publish('chat', payload, { key: 'r' });
      await sub.data.next(); // a reader keeps up: at most one event waits
    }

    expect(sub.data.items).toHaveLength(50);
    expect(await srv.server.metrics()).toMatch(/trpc_pubsub_slow_consumer_closes_total 0/);
    expect(srv.server.health()).toMatchObject({ sseStreams: 1 });
  });
});

describe('sessionExpiresAt over SSE', () => {
  it('ends the stream when the session ends; the stale reconnection is refused, retryLink comes back with fresh connectionParams and resumes', async () => {
    const contexts: { user: string | undefined; exp: number }[] = [];
    const errors: string[] = [];
    await using srv = await startServer({
      server: {
        sse: { retryMs: 20 },
        createContext: ({ info }) => {
          const ctx = { user: info.connectionParams?.['user'], exp: Number(info.connectionParams?.['exp']) };
          contexts.push(ctx);
          return ctx;
        },
        sessionExpiresAt: (ctx) => (ctx as { exp: number }).exp,
        onError: ({ error }) => void errors.push(error.message),
      },
    });
    let lifetimeMs = 300;
    const { trpc } = sseClient(`${srv.httpUrl}/trpc`, { retry: true, connectionParams: () => ({ user: 'ann', exp: String(Date.now() + lifetimeMs) }) });
    const sub = listen(trpc.chat.events, { key: 'r' });
    await sub.started;
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));
    await srv.pubsub.publish('chat', { user: 'ann', text: 'one' }, { key: 'r' });
    expect((await sub.data.next()).data.payload.text).toBe('one');
    lifetimeMs = 60_000; // the next token lasts

    await vi.waitFor(() => expect(errors).toContain('Session expired'), { timeout: 3000 });
    await vi.waitFor(() => expect(contexts.length).toBeGreaterThanOrEqual(3));
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));
    await srv.pubsub.publish('chat', { user: 'ann', text: 'two' }, { key: 'r' });

    expect((await sub.data.next()).data.payload.text).toBe('two');
    await sub.data.nothing();
    expect(contexts.at(-1)?.exp).toBeGreaterThan(Date.now() + 30_000);
  });

  it('refuses a request whose session is already over with 401 UNAUTHORIZED', async () => {
    await using srv = await startServer({
      server: { sse: true, createContext: () => ({ user: 'ann' }), sessionExpiresAt: () => Date.now() - 1 },
    });
    const answer = await probe(`${srv.httpUrl}/trpc/whoami`);
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ error: { message: 'Session expired', data: { code: 'UNAUTHORIZED' } } });
  });
});

describe('graceful close() with SSE streams', () => {
  it('ends open streams at once, answers new requests and streams 503 while WebSockets drain, and counts streams in health', async () => {
    await using srv = await startServer({ server: { sse: true, shutdownGraceMs: 1000 } });
    const events = `${srv.httpUrl}/trpc/news.events`;
    const stream = await openStream(events);
    const ended = new Promise<void>((resolve) => stream.response.once('close', () => resolve()));
    const raw = await rawClient(srv.url); // ignores the reconnect notice: close() waits for it
    await vi.waitFor(() => expect(srv.server.health()).toMatchObject({ connections: 2, sseStreams: 1 }));
    expect(await srv.server.metrics()).toMatch(/trpc_pubsub_connections 2/);

    const closing = srv.server.close();
    await ended;
    expect(srv.server.health()).toMatchObject({ status: 'closing', connections: 1, sseStreams: 0 });
    const query = await probe(`${srv.httpUrl}/trpc/hello`);
    expect(query.status).toBe(503);
    expect(query.body).toMatchObject({ error: { data: { code: 'SERVICE_UNAVAILABLE' } } });
    expect((await probe(events, { headers: STREAM })).status).toBe(503);

    await raw.close();
    await closing;
    expect(srv.server.connectionCount).toBe(0);
  });

  it('a stream ended by close() reconnects into 503 while the instance drains; retryLink then resumes on the successor without a gap', async () => {
    await using first = await startServer({ server: { sse: { retryMs: 20 }, shutdownGraceMs: 2000 } });
    await using proxy = await TcpProxy.start(Number(new URL(first.httpUrl).port));
    const { trpc } = sseClient(`http://127.0.0.1:${proxy.port}/trpc`, { retry: true });
    const sub = listen(trpc.chat.events, { key: 'r' });
    await sub.started;
    await first.pubsub.publish('chat', { user: 'ann', text: 'one' }, { key: 'r' });
    expect((await sub.data.next()).data.payload.text).toBe('one');
    const raw = await rawClient(first.url); // holds the first instance in its grace period

    const closing = first.server.close();
    await vi.waitFor(() => expect(first.server.health().sseStreams).toBe(0));
    await vi.waitFor(async () => expect(await first.server.metrics()).toMatch(/trpc_pubsub_connections_refused_total\{reason="closing"\} [1-9]/));
    // The successor shares the history (here: the same pubsub, as two instances share a broker).
    const second = createPubSubServer({ pubsub: first.pubsub, router: first.router, sse: { retryMs: 20 }, keepAlive: { enabled: false } });
    const { httpUrl } = await second.listen();
    try {
      await first.pubsub.publish('chat', { user: 'ann', text: 'two' }, { key: 'r' });
      proxy.retarget(Number(new URL(httpUrl).port));
      expect((await sub.data.next()).data.payload.text).toBe('two');
      await sub.data.nothing();
      sub.unsubscribe();
    } finally {
      await raw.close();
      await closing;
      await second.close();
    }
  });
});

