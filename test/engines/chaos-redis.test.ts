/**
 * Chaos on Redis: "no acknowledged event lost". Three instances (child
 * processes) on one private `redis-server` with AOF (`appendfsync always`),
 * twenty clients behind proxies, 10,000 events from three publishers, and
 * at seeded moments 100 client disconnects, 20 `CLIENT KILL TYPE pubsub`,
 * one instance SIGKILLed and restarted, and one redis-server SIGKILLed and
 * restarted on its data. Replay a run with `CHAOS_SEED=<seed>`.
 */
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { Redis } from 'ioredis';
import { createPubSub, createPubSubServer, silentLogger, type PubSubEvent } from 'trpc-pubsub';
import { redisEngine } from 'trpc-pubsub/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { chaosTopics, createChaosRouter, type ChaosRouter } from '../fixtures/chaos-app.js';
import { resumeBeforeLiveArrives, resumeDuringCatchUp } from '../fixtures/chaos-resume.js';
import { chaosSeed, formatReport, runChaos, seededRandom, type ChaosBroker } from '../fixtures/chaos.js';
import { Inbox } from '../fixtures/inbox.js';
import { closeAllInstances, runningInstances } from '../fixtures/instance.js';
import { RedisServer, redisSuite } from '../fixtures/redis-server.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { settled, uniquePrefix } from './engine-contract.js';

const suite = redisSuite('Chaos on Redis');

describe.skipIf(suite.skip)(suite.title, () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  });

  afterAll(async () => {
    await closeAllInstances();
    expect(runningInstances()).toBe(0);
    await redis?.dispose();
    expect(redis?.running).toBe(false);
  });

  // One seed for the file: `CHAOS_SEED`, else drawn at random; printed first.
  const seed = chaosSeed();
  console.log(`chaos redis: seed ${seed} (replay with CHAOS_SEED=${seed})`);

  it('loses, doubles and reorders no acknowledged event through disconnects, pubsub kills, an instance kill and a Redis restart', { timeout: 90_000 }, async () => {
    const broker: ChaosBroker = {
      name: 'redis',
      env: { ENGINE: 'redis', REDIS_URL: redis.url, PUBSUB_PREFIX: uniquePrefix() },
      listenerKill: 'CLIENT KILL TYPE pubsub',
      killListeners: async () => Number(await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub')),
      restart: async () => {
        await redis.stop(); // SIGKILL: only what the AOF has survives
        await redis.restart();
      },
    };
    const report = await runChaos(broker, { seed });
    console.log(formatReport(report));
    const failed = report.lost + report.duplicated + report.reordered + report.unexpected + report.gaps + report.subscriptionErrors > 0 || !report.streamCompleted;
    if (failed) console.log([...report.samples, '--- timeline', ...report.timeline].join('\n'));
    expect(report.streamCompleted).toBe(true);
    expect(report.published).toBe(10_000);
    expect(report.disconnects).toBe(100);
    expect(report.listenerKills).toBe(20);
    expect({ instanceKills: report.instanceKills, brokerRestarts: report.brokerRestarts }).toEqual({ instanceKills: 1, brokerRestarts: 1 });
    expect({
      lost: report.lost,
      duplicated: report.duplicated,
      reordered: report.reordered,
      unexpected: report.unexpected,
      gaps: report.gaps,
      subscriptionErrors: report.subscriptionErrors,
    }).toEqual({ lost: 0, duplicated: 0, reordered: 0, unexpected: 0, gaps: 0, subscriptionErrors: 0 });
  });

  // What the seeded runs found, made deterministic (see chaos-resume.ts).
  it('delivers nothing twice to a subscription that resumed while its instance was catching up after a lost subscriber connection', { timeout: 20_000 }, async () => {
    const prefix = uniquePrefix();
    const a = createPubSub({ topics: chaosTopics, engine: redisEngine({ url: redis.url, prefix }), logger: silentLogger });
    // B reconnects its subscriber after 500 ms: long enough to resume a subscription meanwhile.
    const b = createPubSub({ topics: chaosTopics, engine: redisEngine({ url: redis.url, prefix, redisOptions: { retryStrategy: () => 500 } }), logger: silentLogger });
    try {
      const { resumed, expected } = await resumeDuringCatchUp(a, b, async () => {
        expect(Number(await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBe(1);
      });
      expect(resumed).toEqual(expected);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('delivers nothing twice to a subscription that resumed before the live message of an event in its replay arrived', { timeout: 20_000 }, async () => {
    const prefix = uniquePrefix();
    const listenerProxy = await TcpProxy.start(redis.port);
    const [publisherConnection, subscriberConnection] = [new Redis(redis.url), new Redis(`redis://127.0.0.1:${listenerProxy.port}`)];
    const a = createPubSub({ topics: chaosTopics, engine: redisEngine({ url: redis.url, prefix }), logger: silentLogger });
    const b = createPubSub({ topics: chaosTopics, engine: redisEngine({ publisher: publisherConnection, subscriber: subscriberConnection, prefix }), logger: silentLogger });
    try {
      const { resumed, expected } = await resumeBeforeLiveArrives(a, b, listenerProxy);
      expect(resumed).toEqual(expected);
    } finally {
      await Promise.all([a.close(), b.close()]);
      publisherConnection.disconnect();
      subscriberConnection.disconnect();
      await listenerProxy.close();
    }
  });

  // The seeded runs where Redis took a while to come back: a client that reconnected meanwhile
  // had its subscription ended with SERVICE_UNAVAILABLE (neither wsLink nor the convenience
  // client retries it), and got nothing more.
  it('keeps a subscription that resumes while Redis is down, and replays what it missed once Redis is back', { timeout: 20_000 }, async () => {
    const prefix = uniquePrefix();
    const a = createPubSub({ topics: chaosTopics, engine: redisEngine({ url: redis.url, prefix }), logger: silentLogger });
    const b = createPubSub({ topics: chaosTopics, engine: redisEngine({ url: redis.url, prefix }), logger: silentLogger });
    const server = createPubSubServer({ pubsub: b, router: createChaosRouter(b), keepAlive: { enabled: false }, shutdownGraceMs: 0 });
    await Promise.all([a.ready(), b.ready()]);
    const wsClient = createWSClient({ url: (await server.listen({ port: 0 })).url, WebSocket: WebSocket as never });
    const stop: (() => void)[] = [];
    try {
      const trpc = createTRPCClient<ChaosRouter>({ links: [wsLink({ client: wsClient })] });
      const local = new Inbox<PubSubEvent>();
      stop.push(b.subscribe('ledger', { key: 'k' }, local.push));
      await settled(b);
      const first = await a.publish('ledger', { publisher: 'A', key: 'k', seq: 1 }, { key: 'k' });
      expect((await local.next()).id).toBe(first.id);

      await redis.stop();
      await vi.waitFor(() => expect(b.health().status).toBe('degraded'), { timeout: 5000 });
      // A client resumes after `first` (as wsLink does after a reconnect) while Redis is away.
      const resumed = new Inbox<string>();
      const errors: string[] = [];
      const subscription = trpc.ledger.events.subscribe(
        { key: 'k', lastEventId: first.id },
        {
          onData: (item) => resumed.push(item.data.kind === 'gap' ? `gap ${item.data.reason}` : item.id),
          onError: (error) => void errors.push(`${error.data?.code ?? ''} ${error.message}`),
        },
      );
      stop.push(() => subscription.unsubscribe());
      await redis.restart();
      await vi.waitFor(() => expect(a.health().status).toBe('ok'), { timeout: 10_000 });
      const after = await vi.waitFor(() => a.publish('ledger', { publisher: 'A', key: 'k', seq: 2 }, { key: 'k' }), { timeout: 10_000 });
      await vi.waitFor(() => expect([...resumed.items, ...errors]).not.toEqual([]), { timeout: 10_000 });
      await vi.waitFor(() => expect(errors.length > 0 || resumed.items.includes(after.id)).toBe(true), { timeout: 5000 });
      expect({ errors, resumed: resumed.items }).toEqual({ errors: [], resumed: [after.id] });
    } finally {
      for (const end of stop) end();
      await wsClient.close();
      await server.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  // A publish whose script ran but whose reply was lost (Redis SIGKILLed right after, its AOF
  // kept the append) must not be appended a second time when the connection comes back.
  it('appends a publish in flight when Redis is killed at most once (never twice), and delivers every acknowledged one', { timeout: 30_000 }, async () => {
    const RESTARTS = 6;
    const random = seededRandom(seed);
    const pubsub = createPubSub({ topics: chaosTopics, engine: redisEngine({ url: redis.url, prefix: uniquePrefix() }), logger: silentLogger });
    try {
      await pubsub.ready();
      const received = new Inbox<PubSubEvent>();
      pubsub.subscribe('ledger', { key: 'k' }, received.push);
      await settled(pubsub);
      const acked = new Map<number, string>();
      let streaming = true;
      const publishers = [0, 1, 2].map(async (p) => {
        for (let seq = p; streaming; seq += 3) {
          try {
            acked.set(seq, (await pubsub.publish('ledger', { publisher: 'P', key: 'k', seq }, { key: 'k' })).id);
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 5)); // refused while Redis is away: next seq
          }
        }
      });
      for (let restart = 0; restart < RESTARTS; restart++) {
        const due = acked.size + 50 + Math.floor(random() * 200); // then SIGKILL at a seeded moment of the stream
        await vi.waitFor(() => expect(acked.size).toBeGreaterThanOrEqual(due), { timeout: 10_000, interval: 5 });
        await redis.stop(); // SIGKILL, publishes in flight
        await redis.restart();
      }
      streaming = false;
      await Promise.all(publishers);
      const ackedIds = () => [...acked.values()];
      await vi
        .waitFor(
          () => {
            const got = new Set(received.items.map((e) => e.id));
            expect(ackedIds().filter((id) => !got.has(id))).toEqual([]);
          },
          { timeout: 10_000, interval: 50 },
        )
        .catch(() => undefined);
      const ids = new Map<number, string[]>();
      for (const event of received.items) {
        const { seq } = event.payload as { seq: number };
        ids.set(seq, [...(ids.get(seq) ?? []), event.id]);
      }
      const doubled = [...ids].filter(([, list]) => list.length > 1).map(([seq, list]) => ({ seq, ids: list, acknowledged: acked.get(seq) }));
      const lost = [...acked].filter(([seq, id]) => !(ids.get(seq) ?? []).includes(id)).map(([seq, id]) => ({ seq, id }));
      console.log(`in-flight publishes across ${RESTARTS} Redis SIGKILLs (seed ${seed}): ${acked.size} acknowledged, ${received.items.length} received, ${doubled.length} appended twice${doubled.length > 0 ? ` (e.g. ${JSON.stringify(doubled.slice(0, 3))})` : ''}, ${lost.length} lost${lost.length > 0 ? ` (e.g. ${JSON.stringify(lost.slice(0, 3).map((l) => ({ ...l, received: ids.get(l.seq) })))})` : ''}`);
      expect({ doubled, lost }).toEqual({ doubled: [], lost: [] });
    } finally {
      await pubsub.close();
    }
  });
});
