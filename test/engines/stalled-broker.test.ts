/**
 * Brokers that stall (up and connected, but not answering) are seen: a
 * private `redis-server` stopped with `SIGSTOP` (and always continued with
 * `SIGCONT`), and the shared PostgreSQL behind a TCP proxy that holds what
 * the server sends. Publishes through the stock tRPC client fail with
 * `SERVICE_UNAVAILABLE` within about the command timeout instead of hanging,
 * `checkHealth()` and `health()` report `degraded` with the cause and `ok`
 * again once the broker answers, and delivery goes on afterwards. An engine
 * the app wrote, which bounds nothing itself, gets the core's deadline.
 */
import { randomUUID } from 'node:crypto';
import { TRPCClientError } from '@trpc/client';
import { DEFAULT_COMMAND_TIMEOUT_MS, silentLogger, type Engine, type EngineContext, type PubSub } from 'trpc-pubsub';
import { postgresEngine } from 'trpc-pubsub/postgres';
import { redisEngine } from 'trpc-pubsub/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { listen, stockClient, type StockClient } from '../fixtures/clients.js';
import { leave } from '../fixtures/leftovers.js';
import { postgresSuite } from '../fixtures/postgres.js';
import { RedisServer, redisSuite } from '../fixtures/redis-server.js';
import { startServer, type TestServer } from '../fixtures/server.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';

/** The engines' command timeout in these tests. */
const TIMEOUT_MS = 300;
/** Slack on "within about the command timeout" (a loaded 2-core machine, a WebSocket round trip). */
const SLACK_MS = 700;

const prefix = () => `stall${randomUUID().slice(0, 8)}`;

/** `promise`, or a rejection naming `what` if it has not settled within `ms` (so a hang fails fast instead of at the test timeout). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Publishes `text` on `chat` room `r1` through the stock client; resolves to the refusal, with how long it took. */
async function refusedPublish(client: StockClient, text: string, waitMs: number): Promise<{ error: TRPCClientError<never>; elapsedMs: number }> {
  const started = performance.now();
  const outcome = await within(
    waitMs,
    `publish of "${text}"`,
    client.trpc.chat.publish.mutate({ key: 'r1', data: { user: 'ann', text } }).then(
      (ok) => ({ ok }),
      (error: unknown) => ({ error }),
    ),
  );
  const elapsedMs = performance.now() - started;
  if (!('error' in outcome)) throw new Error(`publish of "${text}" succeeded: ${JSON.stringify(outcome.ok)}`);
  expect(outcome.error).toBeInstanceOf(TRPCClientError);
  return { error: outcome.error as TRPCClientError<never>, elapsedMs };
}

/** Proves, over `ms`, that `pubsub.health()` stays degraded (polled; fails at the first `ok`). */
async function staysDegraded(pubsub: PubSub<any, any>, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    expect(pubsub.health().status).toBe('degraded');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A stock client subscribed to `chat` room `r1`, its subscription effective (a first publish came back). */
async function subscribedClient(srv: TestServer) {
  const client = stockClient(srv.url);
  const subscription = listen(client.trpc.chat.events, { key: 'r1' });
  await subscription.started;
  await client.trpc.chat.publish.mutate({ key: 'r1', data: { user: 'ann', text: 'before' } });
  expect((await subscription.data.next()).data.payload.text).toBe('before');
  return { client, subscription };
}

const redis = redisSuite('stalled broker: Redis stopped with SIGSTOP');

describe.skipIf(redis.skip)(redis.title, () => {
  let server: RedisServer | undefined;
  /** Processes this file stopped and has not continued yet. */
  const stopped = new Set<number>();

  /** Stops the Redis process (`SIGSTOP`); returns what continues it (`SIGCONT`, also done after each test whatever happens). */
  function stopRedis(): () => void {
    const pid = server?.pid;
    if (pid === undefined) throw new Error('redis-server is not running');
    process.kill(pid, 'SIGSTOP');
    stopped.add(pid);
    return () => {
      if (stopped.delete(pid)) process.kill(pid, 'SIGCONT');
    };
  }

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterEach(() => {
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
    stopped.clear();
  });
  afterAll(async () => {
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
    await server?.dispose();
  });

  const engine = () => redisEngine({ url: server!.url, prefix: prefix(), commandTimeoutMs: TIMEOUT_MS });

  it('fails a stock-client publish with SERVICE_UNAVAILABLE within about the command timeout, health() says why, and delivery goes on after SIGCONT', async () => {
    const srv = await startServer({ pubsub: { engine: engine() } });
    await srv.pubsub.ready();
    const { client, subscription } = await subscribedClient(srv);

    const resume = stopRedis();
    try {
      const { error, elapsedMs } = await refusedPublish(client, 'during', TIMEOUT_MS + SLACK_MS);
      expect(error.data).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(error.message).toMatch(/redis publish got no answer within 300 ms; it may still be published/);
      expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
      // The stall seen by traffic shows in the synchronous health, and stays while Redis does not answer.
      expect(srv.pubsub.health()).toMatchObject({ status: 'degraded', engine: 'redis', detail: expect.stringContaining('redis publish got no answer within 300 ms') });
      expect(srv.pubsub.core.counters.publishFailures).toBe(1);
    } finally {
      resume();
    }

    // The next command that succeeds ends the stall; subscribers get live events again.
    await client.trpc.chat.publish.mutate({ key: 'r1', data: { user: 'ann', text: 'after' } });
    expect(srv.pubsub.health()).toMatchObject({ status: 'ok', engine: 'redis' });
    expect(srv.pubsub.health().detail).toBeUndefined();
    // "Maybe published": Redis ran the timed-out publish once it was continued, so it arrives, before the next one.
    const texts = (await subscription.data.take(2)).map((item) => item.data.payload.text);
    expect(texts).toEqual(['during', 'after']);
    await subscription.data.nothing();
  });

  it('checkHealth() is degraded with the cause while Redis is stopped, never later than the command timeout, and ok again after SIGCONT; health() follows by itself', async () => {
    const srv = await startServer({ pubsub: { engine: engine() } });
    await srv.pubsub.ready();
    expect(await srv.pubsub.core.checkHealth()).toMatchObject({ status: 'ok', engine: 'redis', subscriptions: 0 });

    const resume = stopRedis();
    try {
      // Connected, no traffic yet: the synchronous health cannot know.
      expect(srv.pubsub.health().status).toBe('ok');
      const started = performance.now();
      const checked = await within(TIMEOUT_MS + SLACK_MS, 'checkHealth()', srv.pubsub.core.checkHealth());
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(checked).toMatchObject({
        status: 'degraded',
        engine: 'redis',
        detail: expect.stringMatching(/redis publisher PING got no answer within 300 ms; redis subscriber PING got no answer within 300 ms/),
      });
      // What the check saw shows in health() too, and stays while Redis stays stopped (the probe gets no answer either).
      expect(srv.pubsub.health()).toMatchObject({ status: 'degraded', detail: expect.stringContaining('PING got no answer') });
      await staysDegraded(srv.pubsub, 1500);
      // /readyz makes the same bounded check over HTTP: 503 with the cause.
      const readyz = await fetch(`${srv.httpUrl}/readyz`);
      expect(readyz.status).toBe(503);
      expect(await readyz.json()).toMatchObject({ ready: false, status: 'degraded', engine: 'redis', detail: expect.stringContaining('PING got no answer') });
    } finally {
      resume();
    }

    // Without any call of ours, the stall probe sees Redis answer again.
    await vi.waitFor(() => expect(srv.pubsub.health().status).toBe('ok'), { timeout: 5000, interval: 20 });
    expect(await srv.pubsub.core.checkHealth()).toMatchObject({ status: 'ok', engine: 'redis' });
    const readyz = await fetch(`${srv.httpUrl}/readyz`);
    expect([readyz.status, await readyz.json()]).toEqual([200, { ready: true, status: 'ok', engine: 'redis' }]);
  });

  it("bounds the publishes of an engine the app wrote (which bounds nothing itself) at the core's default timeout", { timeout: 20_000 }, async () => {
    // The app's engine wraps the Redis engine (given a timeout far longer than the core's) and declares no timeout.
    const inner = redisEngine({ url: server!.url, prefix: prefix(), commandTimeoutMs: 60_000 });
    const appEngine: Engine = {
      name: 'app',
      start: (context: EngineContext) => inner.start(context),
      publish: (channel, draft) => inner.publish(channel, draft),
      since: (scope, cursor) => inner.since(scope, cursor),
      latest: (scope, n) => inner.latest(scope, n),
      listen: (scope) => inner.listen(scope),
      unlisten: (scope) => inner.unlisten(scope),
      health: () => inner.health(),
      close: () => inner.close(),
    };
    const srv = await startServer({ pubsub: { engine: appEngine, logger: silentLogger } });
    await srv.pubsub.ready();
    const { client } = await subscribedClient(srv);

    const resume = stopRedis();
    try {
      const { error, elapsedMs } = await refusedPublish(client, 'during', DEFAULT_COMMAND_TIMEOUT_MS + SLACK_MS);
      expect(error.data).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(error.message).toMatch(/app publish got no answer within 5000 ms; it may still be published/);
      expect(elapsedMs).toBeGreaterThanOrEqual(DEFAULT_COMMAND_TIMEOUT_MS - 10);
      expect(srv.pubsub.health()).toMatchObject({ status: 'degraded', engine: 'app', detail: expect.stringContaining('app publish got no answer') });
      // Without a check() of its own, readiness reads its health, stall included.
      expect(await srv.pubsub.core.checkHealth()).toMatchObject({ status: 'degraded', engine: 'app' });
    } finally {
      resume();
    }
    await client.trpc.chat.publish.mutate({ key: 'r1', data: { user: 'ann', text: 'after' } });
    expect(srv.pubsub.health().status).toBe('ok');
  });
});

const postgres = await postgresSuite('stalled broker: PostgreSQL behind a held TCP path');

describe.skipIf(postgres.skip)(postgres.title, () => {
  it('fails a stock-client publish with SERVICE_UNAVAILABLE within about the command timeout, checkHealth() and health() see the stall, and all is well once the path lets answers through', async () => {
    const target = new URL(postgres.url);
    const proxy = await TcpProxy.start(Number(target.port || 5432));
    // Registered first, so disposed last: the server (and its engine) close before the path does.
    leave(() => proxy.close());
    const viaProxy = new URL(postgres.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const srv = await startServer({
      pubsub: { engine: postgresEngine({ connectionString: viaProxy.href, channelPrefix: prefix(), commandTimeoutMs: TIMEOUT_MS }) },
    });
    await srv.pubsub.ready();
    const { client, subscription } = await subscribedClient(srv);
    expect(await srv.pubsub.core.checkHealth()).toMatchObject({ status: 'ok', engine: 'postgres' });

    // Nothing PostgreSQL sends arrives any more, on the open connections and on new ones (handshakes included).
    proxy.hold({ newConnections: true });
    try {
      const { error, elapsedMs } = await refusedPublish(client, 'during', TIMEOUT_MS + SLACK_MS);
      expect(error.data).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(error.message).toMatch(/postgres publish got no answer within 300 ms; it may still be published/);
      expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
      expect(srv.pubsub.health()).toMatchObject({ status: 'degraded', engine: 'postgres', detail: expect.stringContaining('postgres publish got no answer') });

      const started = performance.now();
      const checked = await within(TIMEOUT_MS + SLACK_MS, 'checkHealth()', srv.pubsub.core.checkHealth());
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(checked).toMatchObject({
        status: 'degraded',
        engine: 'postgres',
        detail: expect.stringMatching(/postgres pool SELECT 1 got no answer within 300 ms; postgres listener SELECT 1 got no answer within 300 ms/),
      });
      await staysDegraded(srv.pubsub, 1500);
    } finally {
      proxy.release();
    }

    await vi.waitFor(async () => expect((await srv.pubsub.core.checkHealth()).status).toBe('ok'), { timeout: 5000, interval: 50 });
    expect(srv.pubsub.health().status).toBe('ok');
    await client.trpc.chat.publish.mutate({ key: 'r1', data: { user: 'ann', text: 'after' } });
    expect(srv.pubsub.health().status).toBe('ok');
    // The timed-out publish's transaction never committed (its connection was dropped): only the next one arrives, live.
    expect((await subscription.data.next()).data.payload.text).toBe('after');
    await subscription.data.nothing();
  });
});
