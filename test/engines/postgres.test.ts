/**
 * The PostgreSQL engine (LISTEN/NOTIFY on `pg`) on the PostgreSQL of this
 * machine: the shared contract with three instances of this process, and
 * what is PostgreSQL's own — a lost listening connection, the NOTIFY size
 * limit, long channel names, a pool of the application's; and, on a
 * private server of its own, a PostgreSQL stop and restart.
 */
import pg from 'pg';
import * as z from 'zod';
import { createPubSub, defineTopics, topic, type PubSubEvent } from 'trpc-pubsub';
import { postgresEngine, type PostgresEngine } from 'trpc-pubsub/postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Inbox } from '../fixtures/inbox.js';
import { postgresSuite, sql } from '../fixtures/postgres.js';
import { PostgresServer, postgresServerSkipReason } from '../fixtures/postgres-server.js';
import { capturingLogger, contractTopics, describeEngineContract, settled, uniquePrefix } from './engine-contract.js';

const suite = await postgresSuite('PostgreSQL engine');
const engines: PostgresEngine[] = [];

describe.skipIf(suite.skip)(suite.title, () => {
  describeEngineContract('shared contract, three instances', {
    history: true,
    instances: 3,
    createEngine: (prefix) => {
      const engine = postgresEngine({ connectionString: suite.url, channelPrefix: prefix });
      engines.push(engine);
      return engine;
    },
    cleanup: () => void engines.splice(0),
    // PostgreSQL shows a session's LISTENs to that session only: ask each engine's listening connection.
    brokerChannels: async (prefix) => engines.flatMap((e) => e.broker.listening()).filter((c) => c.startsWith(`${prefix}:`)),
    injectRaw: async (prefix, topic, raw) => {
      await sql(suite.url, 'SELECT pg_notify($1, $2)', [`${prefix}:${topic}`, raw]);
    },
  });

  describe('PostgreSQL specifics', () => {
    const closers: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    function instance(engine: PostgresEngine) {
      const logger = capturingLogger();
      const pubsub = createPubSub({ topics: contractTopics, engine, logger });
      closers.push(() => pubsub.close());
      return Object.assign(pubsub, { logs: logger.lines });
    }

    it('lets an idle channel of a topic with maxAgeMs go once it aged out, and a resume from before then is expired', async () => {
      const prefix = uniquePrefix();
      const aging = defineTopics({ pings: topic({ key: z.string(), payload: z.number(), history: { maxEvents: 10, maxAgeMs: 50 } }) });
      await using pubsub = createPubSub({ topics: aging, engine: postgresEngine({ connectionString: suite.url, channelPrefix: prefix }), logger: capturingLogger() });
      await pubsub.ready();
      // Tables first (creating them can take longer than maxAgeMs on a busy machine), so that the two publishes come close together.
      await pubsub.engine.latest({ kind: 'topic', topic: 'pings' }, 1);
      const idle = await pubsub.publish('pings', 1, { key: 'idle' });
      const newest = await pubsub.publish('pings', 2, { key: 'idle' });
      const rows = async (channel: string) =>
        Number((await sql(suite.url, 'SELECT count(*) AS n FROM trpc_pubsub_events WHERE prefix = $1 AND channel = $2', [prefix, channel])).rows[0].n);
      expect(await rows('pings:idle')).toBe(2);
      // Both aged out.
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(newest.ts + 60), { interval: 5 });

      // Another channel's publish takes the aged-out events of the whole topic with it.
      await pubsub.publish('pings', 3, { key: 'busy' });
      expect(await rows('pings:idle')).toBe(0);
      const channels = await sql(suite.url, 'SELECT channel FROM trpc_pubsub_channels WHERE prefix = $1 ORDER BY channel', [prefix]);
      expect(channels.rows.map((row: { channel: string }) => row.channel)).toEqual(['pings:busy']);
      expect(await pubsub.engine.since({ kind: 'channel', topic: 'pings', key: 'idle' }, idle.id)).toMatchObject({ ok: false, reason: 'expired' });
      expect(await pubsub.engine.since({ kind: 'topic', topic: 'pings' }, idle.id)).toMatchObject({ ok: false, reason: 'expired' });
    });

    it('listens again by itself after its listening connection is cut, and delivery resumes', async () => {
      const prefix = uniquePrefix();
      const a = instance(postgresEngine({ connectionString: suite.url, channelPrefix: prefix }));
      const bEngine = postgresEngine({ connectionString: suite.url, channelPrefix: prefix });
      const b = instance(bEngine);
      await Promise.all([a.ready(), b.ready()]);
      const box = new Inbox<PubSubEvent>();
      b.subscribe('news', box.push);
      await settled(b);
      const pid = bEngine.broker.listenerPid;
      expect(pid).toBeTypeOf('number');
      await sql(suite.url, 'SELECT pg_terminate_backend($1)', [pid]);
      await vi.waitFor(() => expect(b.logs.some((l) => l.message === 'postgres listener connection lost')).toBe(true), { timeout: 5000 });
      await vi.waitFor(() => expect(b.health().status).toBe('ok'), { timeout: 5000 });
      expect(bEngine.broker.listenerPid).not.toBe(pid);
      const event = await a.publish('news', { title: 'after the cut' });
      expect(await box.next()).toEqual(event);
    });

    it('refuses an event larger than NOTIFY carries with PAYLOAD_TOO_LARGE', async () => {
      const pubsub = instance(postgresEngine({ connectionString: suite.url, channelPrefix: uniquePrefix() }));
      await pubsub.ready();
      await expect(pubsub.publish('big', { blob: 'x'.repeat(8000) })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      await expect(pubsub.publish('big', { blob: 'x'.repeat(7000) })).resolves.toMatchObject({ topic: 'big' });
    });

    it('shortens channel names over 63 bytes the same way on every instance', async () => {
      const prefix = `${uniquePrefix()}-${'p'.repeat(64)}`.slice(0, 60);
      const [aEngine, bEngine] = [0, 1].map(() => postgresEngine({ connectionString: suite.url, channelPrefix: prefix }));
      const channel = aEngine!.channelOf('news');
      expect(Buffer.byteLength(channel)).toBe(63);
      expect(channel).toMatch(/~[0-9a-f]{8}$/);
      expect(bEngine!.channelOf('news')).toBe(channel);
      expect(aEngine!.channelOf('tick')).not.toBe(channel);
      const [a, b] = [instance(aEngine!), instance(bEngine!)];
      await Promise.all([a.ready(), b.ready()]);
      const box = new Inbox<PubSubEvent>();
      b.subscribe('news', box.push);
      await settled(b);
      expect(bEngine!.broker.listening()).toEqual([channel]);
      const event = await a.publish('news', { title: 'long names' });
      expect(await box.next()).toEqual(event);
    });

    it('works on a pool of the application, which it leaves open', async () => {
      const pool = new pg.Pool({ connectionString: suite.url, max: 3 });
      closers.push(() => pool.end());
      const prefix = uniquePrefix();
      const a = instance(postgresEngine({ pool, channelPrefix: prefix }));
      const b = instance(postgresEngine({ pool, channelPrefix: prefix }));
      await Promise.all([a.ready(), b.ready()]);
      const box = new Inbox<PubSubEvent>();
      a.subscribe('tick', box.push);
      await settled(a);
      const event = await b.publish('tick');
      expect(await box.next()).toEqual(event);
      await a.close();
      await b.close();
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });
  });
});

const privateServerSkip = postgresServerSkipReason();
if (privateServerSkip !== undefined && process.env['CI'] === 'true') throw new Error(`PostgreSQL restart: ${privateServerSkip} (required under CI=true)`);

describe.skipIf(privateServerSkip !== undefined)(`PostgreSQL engine across a server restart${privateServerSkip === undefined ? '' : ` [skipped: ${privateServerSkip}]`}`, () => {
  let server: PostgresServer;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    server = await PostgresServer.start();
  });

  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await server?.dispose();
    expect(server?.running).toBe(false);
  });

  it('fails publishes with SERVICE_UNAVAILABLE and reports degraded while PostgreSQL is down, then delivers again by itself', async () => {
    const prefix = uniquePrefix();
    const fast = { min: 50, max: 200 };
    const publisherLogs = capturingLogger();
    const subscriberLogs = capturingLogger();
    const publisher = createPubSub({
      topics: contractTopics,
      engine: postgresEngine({ connectionString: server.url, channelPrefix: prefix, reconnectDelayMs: fast }),
      logger: publisherLogs,
    });
    const subscriber = createPubSub({
      topics: contractTopics,
      engine: postgresEngine({ connectionString: server.url, channelPrefix: prefix, reconnectDelayMs: fast }),
      logger: subscriberLogs,
    });
    closers.push(() => publisher.close(), () => subscriber.close());
    await Promise.all([publisher.ready(), subscriber.ready()]);
    const box = new Inbox<PubSubEvent>();
    subscriber.subscribe('news', box.push);
    await settled(subscriber);
    const before = await publisher.publish('news', { title: 'before the restart' });
    expect(await box.next()).toEqual(before);

    await server.stop();

    await vi.waitFor(() => expect(subscriber.health().status).toBe('degraded'), { timeout: 5000 });
    await expect(publisher.publish('news', { title: 'while down' })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    await server.restart();

    await vi.waitFor(() => expect(subscriber.health().status).toBe('ok'), { timeout: 10_000 });
    const after = await vi.waitFor(() => publisher.publish('news', { title: 'after the restart' }), { timeout: 10_000 });
    expect(await box.next()).toEqual(after);
    await box.nothing();
    expect(subscriberLogs.lines.some((line) => line.message === 'postgres listener connection lost')).toBe(true);
  });
});
