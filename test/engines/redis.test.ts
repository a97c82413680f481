/**
 * The Redis engine on a real `redis-server` started for this file: the
 * shared contract with three instances of this process, and what is
 * Redis's own — channel names and count, prefixes, the ways to configure
 * it, an outage, and what it leaves on the application's connections
 * (listeners, and no unhandled rejection when they close under it).
 */
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis, type RedisOptions } from 'ioredis';
import superjson from 'superjson';
import * as z from 'zod';
import { createPubSub, defineTopics, topic, type PubSubEvent } from 'trpc-pubsub';
import { redisEngine, type RedisEngine } from 'trpc-pubsub/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { listen, stockClient } from '../fixtures/clients.js';
import { Inbox } from '../fixtures/inbox.js';
import { startServer } from '../fixtures/server.js';
import { RedisServer, redisSuite } from '../fixtures/redis-server.js';
import { capturingLogger, contractTopics, describeEngineContract, settled, uniquePrefix } from './engine-contract.js';

const suite = redisSuite('Redis engine');
let redis: RedisServer | undefined;

/** How many listeners `client` has, per event (an event without any is absent). */
function listenerCounts(client: Redis): Record<string, number> {
  return Object.fromEntries(client.eventNames().map((event) => [String(event), client.listenerCount(event)]));
}

/** Resolves once `client` is ready. */
function whenReady(client: Redis): Promise<void> {
  return client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve()));
}

/** Channels Redis has subscribers for, under `prefix`. */
async function channels(prefix: string): Promise<string[]> {
  return ((await redis!.command('PUBSUB', 'CHANNELS', `${prefix}:*`)) as string[]).sort();
}

describe.skipIf(suite.skip)(suite.title, () => {
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.dispose();
    expect(redis?.running).toBe(false);
  });

  describeEngineContract('shared contract, three instances', {
    history: true,
    instances: 3,
    createEngine: (prefix) => redisEngine({ url: redis!.url, prefix }),
    brokerChannels: channels,
    injectRaw: async (prefix, name, raw) => {
      await redis!.command('PUBLISH', `${prefix}:{${name}}`, raw);
    },
  });

  describe('resume on another instance (history on Redis Streams)', () => {
    it('replays to a client that comes back on another server what was published while it was away, then live events', async () => {
      const prefix = uniquePrefix();
      await using a = await startServer({ pubsub: { engine: redisEngine({ url: redis!.url, prefix }) } });
      await using b = await startServer({ pubsub: { engine: redisEngine({ url: redis!.url, prefix }) } });
      await Promise.all([a.pubsub.ready(), b.pubsub.ready()]);
      const say = (text: string) => ({ user: 'ann', text });

      const first = stockClient(a.url);
      const before = listen(first.trpc.chat.events, { key: 'room-1' });
      await before.started;
      await a.pubsub.publish('chat', say('before'), { key: 'room-1' });
      const seen = await before.data.next();
      await first.close();
      await b.pubsub.publish('chat', say('while away 1'), { key: 'room-1' });
      await a.pubsub.publish('chat', say('while away 2'), { key: 'room-1' });

      await using second = stockClient(b.url);
      const after = listen(second.trpc.chat.events, { key: 'room-1', lastEventId: seen.id });
      await after.started;
      await a.pubsub.publish('chat', say('live'), { key: 'room-1' });
      expect((await after.data.take(3)).map((item) => item.data.payload.text)).toEqual(['while away 1', 'while away 2', 'live']);
      await Promise.all([after.data.nothing(50), after.gaps.nothing(50)]);
    });

    it('gives a late joiner on any server the newest events of a room', async () => {
      const prefix = uniquePrefix();
      await using a = await startServer({ pubsub: { engine: redisEngine({ url: redis!.url, prefix }) } });
      await using b = await startServer({ pubsub: { engine: redisEngine({ url: redis!.url, prefix }) } });
      await Promise.all([a.pubsub.ready(), b.pubsub.ready()]);
      for (const text of ['one', 'two', 'three']) await a.pubsub.publish('chat', { user: 'ann', text }, { key: 'lobby' });
      await using client = stockClient(b.url);
      const lobby = listen(client.trpc.chat.events, { key: 'lobby', last: 2 });
      expect((await lobby.data.take(2)).map((item) => item.data.payload.text)).toEqual(['two', 'three']);
    });

    it('lets an idle channel of a topic with maxAgeMs expire from Redis, and a resume from before then is expired', async () => {
      const prefix = uniquePrefix();
      const aging = defineTopics({ pings: topic({ key: z.string(), payload: z.number(), history: { maxEvents: 10, maxAgeMs: 50 } }) });
      await using pubsub = createPubSub({ topics: aging, engine: redisEngine({ url: redis!.url, prefix }), logger: capturingLogger() });
      await pubsub.ready();
      const first = await pubsub.publish('pings', 1, { key: 'k' });
      await pubsub.publish('pings', 2, { key: 'k' });
      const stream = `${prefix}:{pings}:s:pings:k`;
      expect(await redis!.command('EXISTS', stream)).toBe(1);
      await vi.waitFor(async () => expect(await redis!.command('EXISTS', stream)).toBe(0), { timeout: 2000, interval: 10 });
      expect(await pubsub.engine.since({ kind: 'channel', topic: 'pings', key: 'k' }, first.id)).toMatchObject({ ok: false, reason: 'expired' });
    });

    it('recognises an id from before a flush as foreign: a gap (unknown), never a wrong replay', async () => {
      const prefix = uniquePrefix();
      await using srv = await startServer({ pubsub: { engine: redisEngine({ url: redis!.url, prefix }) } });
      await srv.pubsub.ready();
      const old = await srv.pubsub.publish('chat', { user: 'ann', text: 'old' }, { key: 'room-1' });
      await redis!.command('FLUSHALL');
      await srv.pubsub.publish('chat', { user: 'ann', text: 'new history' }, { key: 'room-1' });
      await using client = stockClient(srv.url);
      const room = listen(client.trpc.chat.events, { key: 'room-1', lastEventId: old.id });
      expect((await room.gaps.next()).data).toMatchObject({ kind: 'gap', reason: 'unknown', after: old.id });
      await room.data.nothing(50);
    });
  });

  describe('Redis specifics', () => {
    const closers: (() => Promise<unknown> | void)[] = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    function instance(engine: RedisEngine, logger = capturingLogger()) {
      const pubsub = createPubSub({ topics: contractTopics, engine, logger });
      closers.push(() => pubsub.close());
      return Object.assign(pubsub, { logs: logger.lines });
    }

    it('subscribes one exact channel per topic with local subscribers, named <prefix>:{<topic>}, and no pattern', async () => {
      const prefix = uniquePrefix();
      const pubsub = instance(redisEngine({ url: redis!.url, prefix }));
      await pubsub.ready();
      const stops = [
        pubsub.subscribe('chat', { key: 'room-1' }, () => {}),
        pubsub.subscribe('chat', { key: 'room-2' }, () => {}),
        pubsub.subscribe('chat', () => {}),
        pubsub.subscribe('news', () => {}),
      ];
      await settled(pubsub);
      expect(await channels(prefix)).toEqual([`${prefix}:{chat}`, `${prefix}:{news}`]);
      expect(await redis!.command('PUBSUB', 'NUMSUB', `${prefix}:{chat}`)).toEqual([`${prefix}:{chat}`, 1]);
      expect(await redis!.command('PUBSUB', 'NUMPAT')).toBe(0);
      const all = pubsub.subscribeAll(() => {});
      await settled(pubsub);
      expect(await channels(prefix)).toEqual(Object.keys(contractTopics).map((t) => `${prefix}:{${t}}`).sort());
      all();
      for (const stop of stops) stop();
      await settled(pubsub);
      expect(await channels(prefix)).toEqual([]);
    });

    it('puts { v: 1, origin: <instance id>, event } on the channel, as JSON', async () => {
      const prefix = uniquePrefix();
      const pubsub = instance(redisEngine({ url: redis!.url, prefix }));
      await pubsub.ready();
      const spy = new Redis(redis!.url);
      closers.push(() => spy.disconnect());
      const seen = new Inbox<[string, string]>();
      spy.on('message', (channel: string, message: string) => seen.push([channel, message]));
      await spy.subscribe(`${prefix}:{news}`);
      const event = await pubsub.publish('news', { title: 'on the wire' });
      const [channel, raw] = await seen.next();
      expect(channel).toBe(`${prefix}:{news}`);
      expect(JSON.parse(raw)).toEqual({ v: 1, origin: pubsub.instanceId, event });
    });

    it('keeps apps with different prefixes apart on one Redis', async () => {
      const [first, second] = [uniquePrefix(), uniquePrefix()];
      const appA = instance(redisEngine({ url: redis!.url, prefix: first }));
      const appB = instance(redisEngine({ url: redis!.url, prefix: second }));
      await Promise.all([appA.ready(), appB.ready()]);
      const inboxB = new Inbox<PubSubEvent>();
      appB.subscribe('news', inboxB.push);
      await settled(appB);
      await appA.publish('news', { title: 'for app A only' });
      await inboxB.nothing();
      const own = await appB.publish('news', { title: 'for app B' });
      expect(await inboxB.next()).toEqual(own);
    });

    it('is configured by a URL, by REDIS_URL, by two ioredis clients, or by a RedisPubSub, and shares events between them', async () => {
      const prefix = uniquePrefix();
      vi.stubEnv('REDIS_URL', redis!.url);
      const fromEnv = redisEngine({ prefix });
      vi.unstubAllEnvs();
      const publisher = new Redis(redis!.url, { enableOfflineQueue: false });
      const subscriber = new Redis(redis!.url);
      const ownPubSub = new RedisPubSub({ connection: redis!.url });
      closers.push(() => {
        publisher.disconnect();
        subscriber.disconnect();
      });
      closers.push(() => ownPubSub.close());
      const instances = [
        instance(redisEngine({ url: redis!.url, prefix })),
        instance(fromEnv),
        instance(redisEngine({ publisher, subscriber, prefix })),
        instance(redisEngine({ pubsub: ownPubSub, prefix })),
      ];
      await Promise.all(instances.map((p) => p.ready()));
      const inboxes = instances.map((p) => {
        const box = new Inbox<PubSubEvent>();
        p.subscribe('news', box.push);
        return box;
      });
      await settled(...instances);
      for (const [n, from] of instances.entries()) {
        expect(from.health().status).toBe('ok');
        const event = await from.publish('news', { title: `from ${n}` });
        for (const box of inboxes) expect(await box.next()).toEqual(event);
      }
      // The engine does not close connections it was given.
      for (const p of instances) await p.close();
      expect(publisher.status).toBe('ready');
      expect(subscriber.status).toBe('ready');
      expect(await channels(prefix)).toEqual([]);
    });

    it('rejects contradictory options', () => {
      const client = new Redis({ lazyConnect: true });
      expect(() => redisEngine({ publisher: client, subscriber: client })).toThrow(/two connections/);
      expect(() => redisEngine({ publisher: client })).toThrow(/both publisher and subscriber/);
      expect(() => redisEngine({ url: redis!.url, publisher: client, subscriber: client })).toThrow(/one of/);
      expect(() => redisEngine({ url: redis!.url, prefix: 'bad{prefix}' })).toThrow(/Invalid prefix/);
    });

    it('carries dates across instances with a superjson codec', async () => {
      const topics = defineTopics({ due: topic({ payload: z.object({ at: z.date() }) }) });
      const prefix = uniquePrefix();
      const make = () => {
        const pubsub = createPubSub({ topics, engine: redisEngine({ url: redis!.url, prefix, codec: superjson }), logger: capturingLogger() });
        closers.push(() => pubsub.close());
        return pubsub;
      };
      const [a, b] = [make(), make()];
      await Promise.all([a.ready(), b.ready()]);
      const box = new Inbox<{ payload: { at: Date } }>();
      b.subscribe('due', box.push);
      await settled(b);
      const at = new Date('2030-01-02T03:04:05Z');
      await a.publish('due', { at });
      expect((await box.next()).payload.at).toEqual(at);
    });

    it('degrades while Redis is away, refuses publishes at once, then reconnects and resubscribes by itself', async () => {
      const outage = await RedisServer.start();
      closers.push(() => outage.dispose());
      const prefix = uniquePrefix();
      const a = instance(redisEngine({ url: outage.url, prefix }));
      const b = instance(redisEngine({ url: outage.url, prefix }));
      await Promise.all([a.ready(), b.ready()]);
      const box = new Inbox<PubSubEvent>();
      b.subscribe('chat', { key: 'r' }, box.push);
      await settled(b);

      await outage.stop();
      await vi.waitFor(() => expect(a.health()).toMatchObject({ status: 'degraded', detail: expect.stringMatching(/publisher .*ECONNREFUSED|publisher reconnecting/) }), { timeout: 5000 });
      const started = Date.now();
      await expect(a.publish('chat', { user: 'a', text: 'lost?' }, { key: 'r' })).rejects.toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        message: expect.stringContaining('redis engine unavailable'),
      });
      expect(Date.now() - started).toBeLessThan(100);
      expect(a.logs.some((l) => l.level === 'warn' && l.message === 'redis connection lost')).toBe(true);

      await outage.restart();
      await vi.waitFor(() => expect([a.health().status, b.health().status]).toEqual(['ok', 'ok']), { timeout: 10_000 });
      await vi.waitFor(async () => expect(await outage.command('PUBSUB', 'NUMSUB', `${prefix}:{chat}`)).toEqual([`${prefix}:{chat}`, 1]), {
        timeout: 5000,
      });
      const after = await a.publish('chat', { user: 'a', text: 'back' }, { key: 'r' });
      expect(await box.next()).toEqual(after);
      await box.nothing();
      expect(b.logs.some((l) => l.message === 'redis connection restored')).toBe(true);
    });

    it('keeps history across a restart with AOF: the same epoch, a resume from before the restart replays, live delivery goes on without a gap', async () => {
      const durable = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
      closers.push(() => durable.dispose());
      const prefix = uniquePrefix();
      const a = instance(redisEngine({ url: durable.url, prefix }));
      const b = instance(redisEngine({ url: durable.url, prefix }));
      await Promise.all([a.ready(), b.ready()]);
      const live = new Inbox<PubSubEvent>();
      b.subscribe('chat', { key: 'r' }, live.push);
      await settled(b);
      const before = await a.publish('chat', { user: 'a', text: 'before' }, { key: 'r' });
      const kept = await a.publish('chat', { user: 'a', text: 'kept' }, { key: 'r' });
      expect(await live.take(2)).toEqual([before, kept]);

      await durable.stop(); // SIGKILL: only what the AOF has survives
      await durable.restart();
      await vi.waitFor(() => expect([a.health().status, b.health().status]).toEqual(['ok', 'ok']), { timeout: 10_000 });
      const scope = { kind: 'channel', topic: 'chat', key: 'r' } as const;
      expect(await b.engine.since(scope, before.id)).toMatchObject({ ok: true, events: [{ id: kept.id }] });
      const after = await a.publish('chat', { user: 'a', text: 'after' }, { key: 'r' });
      expect(after.id.split(':')[0]).toBe(before.id.split(':')[0]);
      expect(await live.next()).toEqual(after);
      await live.nothing();
      expect(b.logs.filter((line) => line.message.includes('gap'))).toEqual([]);
    });

    it('starts degraded when Redis is unreachable, subscribes and delivers once Redis comes up, and never rejects unhandled', async () => {
      const late = await RedisServer.start();
      closers.push(() => late.dispose());
      await late.stop();
      const prefix = uniquePrefix();
      const pubsub = instance(redisEngine({ url: late.url, prefix }));
      await pubsub.ready();
      expect(pubsub.health()).toMatchObject({ status: 'degraded', detail: expect.stringContaining('ECONNREFUSED') });
      const box = new Inbox<PubSubEvent>();
      pubsub.subscribe('news', box.push);
      await expect(pubsub.publish('news', { title: 'too early' })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      await late.restart();
      await vi.waitFor(() => expect(pubsub.health().status).toBe('ok'), { timeout: 10_000 });
      await settled(pubsub);
      const event = await pubsub.publish('news', { title: 'on time' });
      expect(await box.next()).toEqual(event);
    });

    /** Two clients of the application on `url`, disconnected after the test. */
    function ownClients(url: string, subscriberOptions: RedisOptions = {}) {
      const publisher = new Redis(url, { enableOfflineQueue: false });
      const subscriber = new Redis(url, subscriberOptions);
      // The application handles its clients' errors (the engine's own handlers go with it).
      for (const client of [publisher, subscriber]) client.on('error', () => {});
      closers.push(() => {
        publisher.disconnect();
        subscriber.disconnect();
      });
      return { publisher, subscriber };
    }

    it("leaves the application's clients with exactly the listeners they had, once closed", async () => {
      const { publisher, subscriber } = ownClients(redis!.url);
      await Promise.all([whenReady(publisher), whenReady(subscriber)]);
      const before = { publisher: listenerCounts(publisher), subscriber: listenerCounts(subscriber) };
      const pubsub = instance(redisEngine({ publisher, subscriber, prefix: uniquePrefix() }));
      await pubsub.ready();
      const box = new Inbox<PubSubEvent>();
      pubsub.subscribe('news', box.push);
      await settled(pubsub);
      const event = await pubsub.publish('news', { title: 'through your clients' });
      expect(await box.next()).toEqual(event);
      expect(subscriber.listenerCount('message')).toBeGreaterThan(before.subscriber['message'] ?? 0);
      await pubsub.close();
      expect({ publisher: listenerCounts(publisher), subscriber: listenerCounts(subscriber) }).toEqual(before);
    });

    it('subscribes on an application subscriber it finds disconnected, failing and retrying without an unhandled rejection', async () => {
      const { publisher, subscriber } = ownClients(redis!.url);
      const pubsub = instance(redisEngine({ publisher, subscriber, prefix: uniquePrefix() }));
      await pubsub.ready();
      subscriber.disconnect();
      pubsub.subscribe('news', () => {});
      await vi.waitFor(() => expect(pubsub.logs).toContainEqual(expect.objectContaining({ message: 'broker subscribe failed; retrying' })), { timeout: 5000 });
    });

    it('subscribes through an application RedisPubSub whose subscriber is disconnected, without an unhandled rejection', async () => {
      const ownPubSub = new RedisPubSub({ connection: redis!.url });
      closers.push(() => {
        ownPubSub.getPublisher().disconnect();
        ownPubSub.getSubscriber().disconnect();
      });
      const pubsub = instance(redisEngine({ pubsub: ownPubSub, prefix: uniquePrefix() }));
      await pubsub.ready();
      ownPubSub.getSubscriber().disconnect();
      pubsub.subscribe('news', () => {});
      await vi.waitFor(() => expect(pubsub.logs).toContainEqual(expect.objectContaining({ message: 'broker subscribe failed; retrying' })), { timeout: 5000 });
    });

    it('closes after the application disconnected its subscriber, without an unhandled rejection', async () => {
      const { publisher, subscriber } = ownClients(redis!.url);
      const pubsub = instance(redisEngine({ publisher, subscriber, prefix: uniquePrefix() }));
      await pubsub.ready();
      pubsub.subscribe('news', () => {});
      await settled(pubsub);
      subscriber.disconnect();
      await vi.waitFor(() => expect(subscriber.status).toBe('end'), { timeout: 5000 });
      await pubsub.close();
      expect(pubsub.logs).toContainEqual(expect.objectContaining({ level: 'debug', message: 'redis unsubscribe failed' }));
    });

    it('closes during an outage whose queued UNSUBSCRIBE the application subscriber gives up on, without an unhandled rejection', async () => {
      const outage = await RedisServer.start();
      closers.push(() => outage.dispose());
      const { publisher, subscriber } = ownClients(outage.url, { maxRetriesPerRequest: 0 });
      const pubsub = instance(redisEngine({ publisher, subscriber, prefix: uniquePrefix() }));
      await pubsub.ready();
      pubsub.subscribe('news', () => {});
      await settled(pubsub);
      await outage.stop();
      await vi.waitFor(() => expect(subscriber.status).toBe('reconnecting'), { timeout: 5000 });
      await pubsub.close();
      // Queued after the engine's UNSUBSCRIBE: once this is given up on, so is that.
      await expect(subscriber.ping()).rejects.toThrow(/max retries per request/i);
      expect(pubsub.logs).toContainEqual(expect.objectContaining({ level: 'debug', message: 'redis unsubscribe failed' }));
    });

    it('closes while a subscribe waits for an unreachable Redis, without an unhandled rejection', async () => {
      const gone = await RedisServer.start();
      const url = gone.url;
      await gone.dispose();
      const pubsub = instance(redisEngine({ url, prefix: uniquePrefix() }));
      await pubsub.ready();
      pubsub.subscribe('news', () => {});
      await pubsub.close();
      expect(pubsub.health().status).toBe('degraded');
    });
  });
});
