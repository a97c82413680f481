/**
 * The limits that keep one client from hurting the others, each at the
 * limit and below it: the per-connection request bucket, the output budget
 * shared by replies and events, the total and per-IP connection caps, the
 * Origin allow-list, and the session expiry.
 */
import WebSocket from 'ws';
import { describe, expect, it, vi } from 'vitest';
import { CloseCode } from 'trpc-pubsub/client';
import { rawClient, reply, RawClient, upgradeStatus, type Frame } from '../fixtures/clients.js';
import { expectIdle, startServer } from '../fixtures/server.js';

const KiB = 1024;

/** The tRPC error code name of an error reply. */
function errorCode(frame: Frame | undefined): string | undefined {
  return typeof frame === 'object' ? frame['error']?.['data']?.['code'] : undefined;
}

/** `count` `hello` queries with ids `first`…, as one batch frame. */
function helloBatch(first: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({ id: first + i, method: 'query', params: { path: 'hello' } }));
}

/** Waits for the replies of ids `first`…`first + count - 1` and returns them in id order. */
async function replies(client: RawClient, first: number, count: number): Promise<Frame[]> {
  const found: Frame[] = [];
  for (let id = first; id < first + count; id++) found.push(await client.waitForMessage(reply(id)));
  return found;
}

describe('the per-connection request limit', () => {
  it('serves a burst up to the bucket, answers the rest TOO_MANY_REQUESTS, and leaves other connections alone', async () => {
    await using srv = await startServer({ server: { rateLimit: { requestsPerSecond: 5, burst: 10 } } });
    const flooder = await rawClient(srv.url);
    const neighbour = await rawClient(srv.url);

    flooder.send(helloBatch(1, 15));
    const answers = await replies(flooder, 1, 15);
    neighbour.send({ id: 1, method: 'query', params: { path: 'hello' } });

    expect(answers.slice(0, 10).map((frame) => (frame as { result?: { data: unknown } }).result?.data)).toEqual(Array(10).fill('world'));
    expect(answers.slice(10).map(errorCode)).toEqual(Array(5).fill('TOO_MANY_REQUESTS'));
    expect((await neighbour.waitForMessage(reply(1))) as object).toMatchObject({ result: { type: 'data', data: 'world' } });
  });

  it('serves every request of a client that stays within the bucket', async () => {
    await using srv = await startServer({ server: { rateLimit: { requestsPerSecond: 5, burst: 10 } } });
    const client = await rawClient(srv.url);

    client.send(helloBatch(1, 10));

    expect((await replies(client, 1, 10)).map(errorCode)).toEqual(Array(10).fill(undefined));
  });

  it('serves a refused client again once its bucket has refilled', async () => {
    await using srv = await startServer({ server: { rateLimit: { requestsPerSecond: 20, burst: 2 } } });
    const client = await rawClient(srv.url);
    client.send(helloBatch(1, 4));
    expect((await replies(client, 1, 4)).map(errorCode)).toEqual([undefined, undefined, 'TOO_MANY_REQUESTS', 'TOO_MANY_REQUESTS']);

    // The server does not read this socket until the debt is paid (3 tokens at 20/s): then the query is served.
    client.send({ id: 5, method: 'query', params: { path: 'hello' } });

    expect((await client.waitForMessage(reply(5))) as object).toMatchObject({ result: { data: 'world' } });
  });

  it('refuses publishes past the bucket with TOO_MANY_REQUESTS and delivers only the accepted ones', async () => {
    await using srv = await startServer({ server: { rateLimit: { requestsPerSecond: 1, burst: 4 } } });
    const subscriber = await rawClient(srv.url);
    await subscriber.subscribe(1, 'news.events');
    const publisher = await rawClient(srv.url);

    publisher.send(Array.from({ length: 6 }, (_, i) => ({ id: i + 1, method: 'mutation', params: { path: 'news.publish', input: { data: { title: `t${i}` } } } })));
    const answers = await replies(publisher, 1, 6);

    expect(answers.map(errorCode)).toEqual([undefined, undefined, undefined, undefined, 'TOO_MANY_REQUESTS', 'TOO_MANY_REQUESTS']);
    const titles: string[] = [];
    for (let n = 0; n < 4; n++) titles.push(((await subscriber.waitForMessage(reply(1, 'data'))) as { result: { data: { data: { payload: { title: string } } } } }).result.data.data.payload.title);
    expect(titles).toEqual(['t0', 't1', 't2', 't3']);
    expect(await subscriber.waitForMessage(reply(1, 'data'), { expire: 200 })).toBeUndefined();
  });

  it('does not count subscription.stop', async () => {
    await using srv = await startServer({ server: { rateLimit: { requestsPerSecond: 0.001, burst: 2 } } });
    const client = await rawClient(srv.url);

    await client.subscribe(1, 'news.events');
    await client.stop(1);
    await client.subscribe(2, 'news.events');
    client.send({ id: 3, method: 'query', params: { path: 'hello' } });

    expect(errorCode(await client.waitForMessage(reply(3)))).toBe('TOO_MANY_REQUESTS');
    client.socket.terminate(); // the server reads nothing from it (not even a close frame) until its bucket refills
  });

  it('is off with rateLimit: false', async () => {
    await using srv = await startServer({ server: { rateLimit: false } });
    const client = await rawClient(srv.url);

    for (let batch = 0; batch < 3; batch++) client.send(helloBatch(batch * 1000 + 1, 1000));

    expect((await replies(client, 1, 3000)).filter((frame) => errorCode(frame) !== undefined)).toEqual([]);
  });
});

describe('the per-connection output budget', () => {
  const budget = { slowConsumer: { maxBufferedBytes: 64 * KiB }, rateLimit: false as const };
  const echo = (id: number) => ({ id, method: 'mutation', params: { path: 'echo', input: { text: 'x'.repeat(16 * KiB) } } });

  it('closes with 4429 a client that asks for replies and never reads them, while others are served', async () => {
    await using srv = await startServer({ server: budget });
    const neighbour = await rawClient(srv.url);
    const flooder = await rawClient(srv.url);
    const onServer = srv.connections[1]!.socket;
    flooder.socket.pause(); // its TCP socket is read no more: the kernel buffers fill, then the server's

    // 2,000 replies of 16 KiB (32 MiB) are far more than loopback's kernel buffers hold.
    for (let id = 1; onServer.readyState === WebSocket.OPEN; id += 50) {
      if (id > 2000) throw new Error('the flooding connection was not closed after 2,000 replies of 16 KiB');
      flooder.send(Array.from({ length: 50 }, (_, i) => echo(id + i)));
      neighbour.send({ id, method: 'query', params: { path: 'hello' } });
      await neighbour.waitForMessage(reply(id));
    }

    flooder.socket.resume();
    expect((await flooder.waitForClose()).code).toBe(CloseCode.SlowConsumer);
    await vi.waitFor(() => expect(srv.disconnects.map((d) => d.code)).toEqual([CloseCode.SlowConsumer]));
    neighbour.send({ id: 0, method: 'query', params: { path: 'hello' } });
    expect((await neighbour.waitForMessage(reply(0))) as object).toMatchObject({ result: { data: 'world' } });
  });

  it('keeps a client that reads its replies, however many it asks for', async () => {
    await using srv = await startServer({ server: budget });
    const client = await rawClient(srv.url);

    for (let id = 1; id <= 400; id += 2) {
      client.send([echo(id), echo(id + 1)]);
      await replies(client, id, 2);
    }

    expect(srv.disconnects).toEqual([]);
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
  });
});

describe('the connection caps', () => {
  it('answers 503 to the upgrade past maxConnections, and accepts again once one left', async () => {
    await using srv = await startServer({ server: { maxConnections: 2 } });
    const first = await rawClient(srv.url);
    expect(await upgradeStatus(srv.url)).toBe(101);

    expect(await upgradeStatus(srv.url)).toBe(503);
    await first.close();
    await expectIdle(srv, { connections: 1 });
    expect(await upgradeStatus(srv.url)).toBe(101);
  });

  it('answers 429 to the upgrade past maxConnectionsPerIp, ignoring X-Forwarded-For unless told to trust it', async () => {
    await using srv = await startServer({ server: { maxConnectionsPerIp: 2 } });

    expect(await upgradeStatus(srv.url, { 'x-forwarded-for': '203.0.113.1' })).toBe(101);
    expect(await upgradeStatus(srv.url, { 'x-forwarded-for': '203.0.113.2' })).toBe(101);
    expect(await upgradeStatus(srv.url, { 'x-forwarded-for': '203.0.113.3' })).toBe(429);
  });

  it('counts the address its trusted proxy forwarded', async () => {
    await using srv = await startServer({ server: { maxConnectionsPerIp: 2, trustProxy: 1 } });
    const from = (ip: string) => ({ 'x-forwarded-for': `198.51.100.7, ${ip}` }); // a spoofed first hop, then what our proxy saw

    expect(await upgradeStatus(srv.url, from('203.0.113.1'))).toBe(101);
    expect(await upgradeStatus(srv.url, from('203.0.113.1'))).toBe(101);
    expect(await upgradeStatus(srv.url, from('203.0.113.2'))).toBe(101);
    expect(await upgradeStatus(srv.url, from('203.0.113.1'))).toBe(429);
  });
});

describe('the Origin check', () => {
  it('by default lets in clients without Origin and same-origin pages, and answers 403 to other origins', async () => {
    await using srv = await startServer();
    const host = new URL(srv.httpUrl).host;

    expect(await upgradeStatus(srv.url)).toBe(101);
    expect(await upgradeStatus(srv.url, { origin: `http://${host}` })).toBe(101);
    expect(await upgradeStatus(srv.url, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(srv.url, { origin: `http://${host}.evil.example` })).toBe(403);
  });

  it('lets in exactly the listed origins', async () => {
    await using srv = await startServer({ server: { allowedOrigins: ['https://app.example', /^https:\/\/[a-z0-9]+\.preview\.example$/] } });

    expect(await upgradeStatus(srv.url, { origin: 'https://app.example' })).toBe(101);
    expect(await upgradeStatus(srv.url, { origin: 'https://pr1.preview.example' })).toBe(101);
    expect(await upgradeStatus(srv.url, { origin: 'https://app.example.evil' })).toBe(403);
    expect(srv.server.connectionCount).toBe(2);
  });

  it("lets in any origin with '*'", async () => {
    await using srv = await startServer({ server: { allowedOrigins: '*' } });

    expect(await upgradeStatus(srv.url, { origin: 'https://anywhere.example' })).toBe(101);
  });
});

describe('the session expiry', () => {
  it('closes a connection with 4440 when sessionExpiresAt says its session ended', async () => {
    const ends = Date.now() + 300;
    await using srv = await startServer({ server: { sessionExpiresAt: (ctx) => (ctx.user === 'short' ? ends : undefined) } });
    const short = await rawClient(`${srv.url}?connectionParams=1`);
    const long = await rawClient(`${srv.url}?connectionParams=1`);
    short.send({ method: 'connectionParams', data: { user: 'short' } });
    long.send({ method: 'connectionParams', data: { user: 'long' } });
    await short.subscribe(1, 'news.events');
    await long.subscribe(1, 'news.events');

    expect((await short.waitForClose()).code).toBe(CloseCode.SessionExpired);
    expect(Date.now()).toBeGreaterThanOrEqual(ends);
    expect(await long.waitForMessage(undefined, { expire: 300 })).toBeUndefined();
    expect(long.socket.readyState).toBe(WebSocket.OPEN);
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));
    expect(srv.disconnects.map((d) => d.code)).toEqual([CloseCode.SessionExpired]);
  });
});
