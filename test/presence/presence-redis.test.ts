/**
 * Presence shared through Redis: members of one instance are seen by the
 * others, joins and leaves travel between them, and the members of a
 * killed instance disappear once their TTL passes (their leave announced
 * by whichever instance reads them first). A private `redis-server`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { PresenceUpdate } from 'trpc-pubsub';
import { redisEngine } from 'trpc-pubsub/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deferred, Inbox } from '../fixtures/inbox.js';
import { leave } from '../fixtures/leftovers.js';
import { presenceClient, startPresenceServer } from '../fixtures/presence-clients.js';
import { RedisServer, redisSuite } from '../fixtures/redis-server.js';

const suite = redisSuite('Presence on Redis');
let redis: RedisServer | undefined;
let prefixes = 0;

type Info = { name: string };

/** An in-process instance on the shared Redis. */
function instance(prefix: string, ttlMs = 30_000) {
  return startPresenceServer({ engine: redisEngine({ url: redis!.url, prefix }), presence: { ttlMs } });
}

/** A child-process instance (to SIGKILL). */
async function childInstance(prefix: string, ttlMs: number): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(fileURLToPath(new URL('../fixtures/presence-instance.ts', import.meta.url)), [], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    execArgv: ['--import', 'tsx', '--conditions=@trpc-pubsub/source'],
    env: { ...process.env, REDIS_URL: redis!.url, PUBSUB_PREFIX: prefix, PRESENCE_TTL_MS: String(ttlMs), TRPC_PUBSUB_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  leave(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [message] = (await once(child, 'message')) as [{ type: string; url: string }];
  return { url: message.url, child };
}

function watch(client: ReturnType<typeof presenceClient>, key: string) {
  const updates = new Inbox<PresenceUpdate<Info>>();
  const started = deferred();
  client.trpc.room.presence.subscribe({ key }, { onData: (u) => updates.push(u as PresenceUpdate<Info>), onStarted: () => started.resolve() });
  return { updates, started: started.promise };
}

function enter(client: ReturnType<typeof presenceClient>, key: string) {
  const started = deferred();
  const subscription = client.trpc.room.events.subscribe({ key }, { onStarted: () => started.resolve(), onData: () => {} });
  return { started: started.promise, stop: () => subscription.unsubscribe() };
}

describe.skipIf(suite.skip)(suite.title, () => {
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('shows the members of every instance, and their joins and leaves, on every instance', async () => {
    const prefix = `presence-${++prefixes}`;
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

  it("drops a killed instance's members once their TTL passes, and tells the watchers of the other instances", async () => {
    const prefix = `presence-${++prefixes}`;
    const ttlMs = 600;
    await using a = await instance(prefix, ttlMs);
    const b = await childInstance(prefix, ttlMs);
    await using carol = presenceClient(b.url, 'carol');
    await using dan = presenceClient(a.url, 'dan');
    await enter(carol, 'r').started;
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

  it('puts back a member the store lost (a Redis flush), and the watchers see it again', async () => {
    const prefix = `presence-${++prefixes}`;
    await using a = await instance(prefix, 600);
    await using ann = presenceClient(a.url, 'ann');
    await using bob = presenceClient(a.url, 'bob');
    await enter(ann, 'r').started;
    const seen = watch(bob, 'r');
    expect(await seen.updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'ann' } }] });
    await redis!.command('FLUSHALL');
    // The next refresh adds ann back; watchers never lose her for good.
    await vi.waitFor(async () => expect((await a.pubsub.members('room', { key: 'r' })).map((m) => m.info.name)).toEqual(['ann']), { timeout: 3000 });
  });
});
