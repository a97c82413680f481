/**
 * Presence shared through a broker (Redis, PostgreSQL): members of one
 * instance are seen by the others, joins and leaves travel between them,
 * and the members of a killed instance disappear once their TTL passes
 * (their leave announced by whichever instance reads them first). A
 * private `redis-server`; the machine's PostgreSQL.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Engine } from 'trpc-pubsub';
import { postgresEngine } from 'trpc-pubsub/postgres';
import { redisEngine } from 'trpc-pubsub/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { leave } from '../fixtures/leftovers.js';
import { enter, presenceClient, startPresenceServer, watch } from '../fixtures/presence-clients.js';
import { postgresSuite, sql } from '../fixtures/postgres.js';
import { RedisServer, redisSuite } from '../fixtures/redis-server.js';

const redisTitle = redisSuite('Presence on Redis');
const postgresTitle = await postgresSuite('Presence on PostgreSQL');
let redis: RedisServer | undefined;
let prefixes = 0;

/** How a broker's instances are made, and how its store is wiped. */
interface Broker {
  engine(prefix: string): Engine;
  env(prefix: string): Record<string, string>;
  wipe(prefix: string): Promise<void>;
}

const brokers: { title: string; skip: boolean; broker: Broker }[] = [
  {
    ...redisTitle,
    broker: {
      engine: (prefix) => redisEngine({ url: redis!.url, prefix }),
      env: (prefix) => ({ ENGINE: 'redis', REDIS_URL: redis!.url, PUBSUB_PREFIX: prefix }),
      wipe: async () => void (await redis!.command('FLUSHALL')),
    },
  },
  {
    ...postgresTitle,
    broker: {
      engine: (prefix) => postgresEngine({ connectionString: postgresTitle.url, channelPrefix: prefix }),
      env: (prefix) => ({ ENGINE: 'postgres', DATABASE_URL: postgresTitle.url, PUBSUB_PREFIX: prefix }),
      wipe: async (prefix) => void (await sql(postgresTitle.url, 'DELETE FROM trpc_pubsub_presence WHERE prefix = $1', [prefix])),
    },
  },
];


/** A child-process instance (to SIGKILL). */
async function childInstance(env: Record<string, string>, ttlMs: number): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(fileURLToPath(new URL('../fixtures/presence-instance.ts', import.meta.url)), [], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    execArgv: ['--import', 'tsx', '--conditions=@trpc-pubsub/source'],
    env: { ...process.env, ...env, PRESENCE_TTL_MS: String(ttlMs), TRPC_PUBSUB_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  leave(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [message] = (await once(child, 'message')) as [{ type: string; url: string }];
  return { url: message.url, child };
}

beforeAll(async () => {
  if (!redisTitle.skip) redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

describe.each(brokers)('$title', ({ skip, broker }) => {
  /** An in-process instance on the shared broker. */
  const instance = (prefix: string, ttlMs = 30_000) => startPresenceServer({ engine: broker.engine(prefix), presence: { ttlMs } });
  if (skip) it.skip('needs its broker', () => {});

  it.skipIf(skip)('shows the members of every instance, and their joins and leaves, on every instance', async () => {
    const prefix = `presence-${process.pid}-${++prefixes}`;
    await using a = await instance(prefix);
    await using b = await instance(prefix);
    await using ann = presenceClient(a.url, 'ann');
    await using bob = presenceClient(b.url, 'bob');
    await enter(ann, 'lobby').started;
    await vi.waitFor(async () => expect((await b.pubsub.members('room', { key: 'lobby' })).map((m) => m.info.name)).toEqual(['ann']));

    const onB = watch(bob, 'lobby');
    expect(await onB.updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'ann' } }] });
    const bobIn = enter(bob, 'lobby');
    expect(await onB.updates.next()).toMatchObject({ kind: 'join', member: { info: { name: 'bob' } } });
    await bobIn.started;
    expect((await a.pubsub.members('room', { key: 'lobby' })).map((m) => m.info.name)).toEqual(['ann', 'bob']);

    await ann.close();
    expect(await onB.updates.next()).toMatchObject({ kind: 'leave', member: { info: { name: 'ann' } } });
    await onB.updates.nothing();
  });

  it.skipIf(skip)('announces at once the leave of the members of an instance that shuts down (no wait for the TTL)', async () => {
    const prefix = `presence-${process.pid}-${++prefixes}`;
    await using a = await instance(prefix);
    const b = await instance(prefix);
    await using erin = presenceClient(b.url, 'erin');
    await using frank = presenceClient(a.url, 'frank');
    await enter(erin, 'r').started;
    await vi.waitFor(async () => expect(await a.pubsub.members('room', { key: 'r' })).toHaveLength(1));
    const onA = watch(frank, 'r');
    expect(await onA.updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'erin' } }] });
    await b.close(); // server.close(), then pubsub.close()
    expect(await onA.updates.next(2000)).toMatchObject({ kind: 'leave', member: { info: { name: 'erin' } } });
  });

  it.skipIf(skip)("drops a killed instance's members once their TTL passes, and tells the watchers of the other instances", async () => {
    const prefix = `presence-${process.pid}-${++prefixes}`;
    const ttlMs = 600;
    await using a = await instance(prefix, ttlMs);
    const b = await childInstance(broker.env(prefix), ttlMs);
    await using carol = presenceClient(b.url, 'carol');
    await using dan = presenceClient(a.url, 'dan');
    await enter(carol, 'r').started;
    // A member joins just after its subscription started (its info is built, then stored): wait for the store to have it.
    await vi.waitFor(async () => expect(await a.pubsub.members('room', { key: 'r' })).toHaveLength(1));
    const onA = watch(dan, 'r');
    expect(await onA.updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'carol' } }] });

    // Refreshed every third of the TTL, carol stays well past it while b runs.
    await expect(onA.updates.nothing(ttlMs * 2)).resolves.toBeUndefined();
    const killedAt = Date.now();
    b.child.kill('SIGKILL');
    const left = await onA.updates.next(ttlMs * 5);
    expect(left).toMatchObject({ kind: 'leave', member: { info: { name: 'carol' } } });
    const after = Date.now() - killedAt;
    expect(after).toBeLessThan(ttlMs * 3);
    expect(await a.pubsub.members('room', { key: 'r' })).toEqual([]);
  });

  it.skipIf(skip)('puts back a member the store lost (a wiped store), and the watchers see it again', async () => {
    const prefix = `presence-${process.pid}-${++prefixes}`;
    await using a = await instance(prefix, 600);
    await using ann = presenceClient(a.url, 'ann');
    await using bob = presenceClient(a.url, 'bob');
    await enter(ann, 'r').started;
    await vi.waitFor(async () => expect(await a.pubsub.members('room', { key: 'r' })).toHaveLength(1));
    const seen = watch(bob, 'r');
    expect(await seen.updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'ann' } }] });
    await broker.wipe(prefix);
    // The next refresh adds ann back; watchers never lose her for good.
    await vi.waitFor(async () => expect((await a.pubsub.members('room', { key: 'r' })).map((m) => m.info.name)).toEqual(['ann']), { timeout: 3000 });
  });
});
