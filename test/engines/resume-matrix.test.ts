/**
 * Resume, the whole matrix: real child-process instances behind a TCP
 * proxy standing in for the load balancer. A client holds three
 * subscriptions (one room, every room, every topic); the proxy drops its
 * connection and refuses new ones while events are published, then sends
 * it back to the same instance or to another one. Each subscription must
 * then get exactly what it missed, from history, then live events: none
 * lost, none twice, each channel in order; an all-topics subscription gets
 * a gap for each topic that keeps no history. With the stock `wsLink`
 * (which resends the last tracked id itself) and with our client, on the
 * memory engine (same instance only), Redis and PostgreSQL.
 */
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { randomUUID } from 'node:crypto';
import { createPubSubClient } from 'trpc-pubsub/client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, Inbox } from '../fixtures/inbox.js';
import { Instance } from '../fixtures/instance.js';
import type { InstanceRouter } from '../fixtures/instance-app.js';
import { postgresSuite } from '../fixtures/postgres.js';
import { freePort, RedisServer, redisSuite } from '../fixtures/redis-server.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';

/** What one subscription received: an event (its own id, channel and number) or a gap. */
type Received = { kind: 'event'; id: string; topic: string; key?: string; n?: number } | { kind: 'gap'; topic?: string; reason: string };

/** The three subscriptions of one client. */
interface Watched {
  room: Inbox<Received>;
  rooms: Inbox<Received>;
  all: Inbox<Received>;
  close(): Promise<void>;
}

type ClientKind = 'stock wsLink' | 'trpc-pubsub client';

/** Turns what a subscription's `onData` (stock) or callback (ours) got into a {@link Received}. */
function received(data: { kind: string; id?: string; topic?: string; key?: string | number; payload?: unknown; reason?: string }, trackedId?: string): Received {
  if (data.kind === 'gap') return { kind: 'gap', topic: data.topic, reason: data.reason ?? '' };
  const event: Received = { kind: 'event', id: data.id ?? trackedId ?? '', topic: data.topic ?? '' };
  if (data.key !== undefined) event.key = String(data.key);
  const n = (data.payload as { n?: number } | undefined)?.n;
  if (n !== undefined) event.n = n;
  return event;
}

/** Connects a client of `kind` to `url` and opens its three subscriptions; resolves once all three started. */
async function watch(kind: ClientKind, url: string): Promise<Watched> {
  const room = new Inbox<Received>();
  const rooms = new Inbox<Received>();
  const all = new Inbox<Received>();
  if (kind === 'stock wsLink') {
    const wsClient = createWSClient({ url, WebSocket: WebSocket as never, retryDelayMs: () => 30 });
    const trpc = createTRPCClient<InstanceRouter>({ links: [wsLink({ client: wsClient })] });
    const subscribed: Promise<void>[] = [];
    /** An observer pushing into `inbox`, whose `started` joins {@link subscribed}. */
    const observer = (inbox: Inbox<Received>) => {
      const started = deferred();
      subscribed.push(started.promise);
      return {
        onStarted: () => started.resolve(),
        onError: (error: unknown) => started.reject(error),
        onData: (tracked: { id: string; data: Parameters<typeof received>[0] }) => inbox.push(received(tracked.data, tracked.id)),
      };
    };
    trpc.room.events.subscribe({ key: 'r1' }, observer(room));
    trpc.room.events.subscribe({}, observer(rooms));
    trpc.allTopics.events.subscribe(undefined, observer(all));
    await Promise.all(subscribed);
    return { room, rooms, all, close: () => wsClient.close() };
  }
  const client = createPubSubClient<InstanceRouter>({
    url,
    WebSocket,
    retry: { initialDelayMs: 20, maxDelayMs: 60 },
    keepAlive: { enabled: false },
  });
  const gapInto = (inbox: Inbox<Received>) => (gap: { topic?: string; reason: string }) => inbox.push({ kind: 'gap', topic: gap.topic, reason: gap.reason });
  const subscriptions = [
    client.subscribe('room', { key: 'r1', onGap: gapInto(room) }, (event) => room.push(received(event))),
    client.subscribe('room', { onGap: gapInto(rooms) }, (event) => rooms.push(received(event))),
    client.subscribeAll((event) => all.push(received(event)), { onGap: gapInto(all) }),
  ];
  await Promise.all(subscriptions.map((subscription) => subscription.started));
  return { room, rooms, all, close: () => client.close() };
}

const port = (instance: Instance) => Number(new URL(instance.url).port);
const events = (items: readonly Received[]) => items.filter((item) => item.kind === 'event');
const gaps = (items: readonly Received[]) => items.filter((item) => item.kind === 'gap');
/** Each event's channel and number, in arrival order, per channel (`room:r1 → [1, 4, 7]`). */
function byChannel(items: readonly Received[]): Record<string, number[]> {
  const channels: Record<string, number[]> = {};
  for (const item of events(items)) {
    const name = item.key === undefined ? item.topic : `${item.topic}:${item.key}`;
    (channels[name] ??= []).push(item.n ?? -1);
  }
  return channels;
}

/**
 * The matrix for one engine: `start(name)` starts an instance on it;
 * `instances` says whether a second one shares its events.
 */
function describeResumeMatrix(title: string, options: { skip: boolean; shared: boolean; env: () => Record<string, string> }): void {
  describe.skipIf(options.skip)(title, () => {
    let a: Instance | undefined;
    let b: Instance | undefined;
    beforeAll(async () => {
      const env = options.env();
      [a, b] = await Promise.all([Instance.start('A', env), options.shared ? Instance.start('B', env) : Promise.resolve(undefined)]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
    });

    const cases: { client: ClientKind; where: 'the same instance' | 'another instance' }[] = [];
    for (const client of ['stock wsLink', 'trpc-pubsub client'] as const) {
      cases.push({ client, where: 'the same instance' });
      if (options.shared) cases.push({ client, where: 'another instance' });
    }

    it.each(cases)(
      'replays to one room, every room and every topic through the $client on $where what it missed, then live events',
      async ({ client, where }) => {
        const first = a!;
        const back = where === 'another instance' ? b! : a!;
        await using proxy = await TcpProxy.start(port(first));
        const watched = await watch(client, `ws://127.0.0.1:${proxy.port}/trpc`);
        try {
          await first.settled();
          await first.publish('room', { n: 1 }, { key: 'r1' });
          await first.publish('room', { n: 2 }, { key: 'r2' });
          await first.publish('feed', { n: 3 });
          await Promise.all([watched.room.take(1), watched.rooms.take(2), watched.all.take(3)]);

          // The connection drops; while no instance can be reached, events go on.
          proxy.retarget(await freePort());
          proxy.cut('rst');
          await back.publish('room', { n: 4 }, { key: 'r1' });
          await first.publish('room', { n: 5 }, { key: 'r2' });
          await back.publish('feed', { n: 6 });
          await first.publish('news', { title: 'not kept' });
          proxy.retarget(port(back));

          // What it missed comes from history (the all-topics subscription: a gap for each topic without history first).
          await Promise.all([watched.room.take(1), watched.rooms.take(2), watched.all.take(3 + 3)]);
          await back.settled();
          await back.publish('room', { n: 7 }, { key: 'r1' });
          await Promise.all([watched.room.take(1), watched.rooms.take(1), watched.all.take(1)]);
          await Promise.all([watched.room.nothing(), watched.rooms.nothing(), watched.all.nothing()]);

          expect(watched.room.items).toEqual(events(watched.room.items));
          expect(byChannel(watched.room.items)).toEqual({ 'room:r1': [1, 4, 7] });
          expect(byChannel(watched.rooms.items)).toEqual({ 'room:r1': [1, 4, 7], 'room:r2': [2, 5] });
          expect(gaps(watched.rooms.items)).toEqual([]);
          expect(byChannel(watched.all.items)).toEqual({ 'room:r1': [1, 4, 7], 'room:r2': [2, 5], feed: [3, 6] });
          expect(gaps(watched.all.items).map((gap) => gap.kind === 'gap' && [gap.topic, gap.reason])).toEqual([
            ['chat', 'unsupported'],
            ['news', 'unsupported'],
            ['tick', 'unsupported'],
          ]);
          for (const inbox of [watched.room, watched.rooms, watched.all]) {
            const ids = events(inbox.items).map((event) => event.kind === 'event' && event.id);
            expect(new Set(ids).size).toBe(ids.length);
          }
          expect(proxy.accepted).toBeGreaterThanOrEqual(2);
        } finally {
          await watched.close();
        }
      },
      30_000,
    );
  });
}

describeResumeMatrix('resume matrix on the memory engine', { skip: false, shared: false, env: () => ({ ENGINE: 'memory' }) });

const redisMatrix = redisSuite('resume matrix on Redis, two instances');
let redis: RedisServer | undefined;
describe.skipIf(redisMatrix.skip)('', () => {
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.dispose();
  });
  describeResumeMatrix(redisMatrix.title, {
    skip: false,
    shared: true,
    env: () => ({ ENGINE: 'redis', REDIS_URL: redis!.url, PUBSUB_PREFIX: `m${randomUUID().slice(0, 8)}` }),
  });
});

const postgresMatrix = await postgresSuite('resume matrix on PostgreSQL, two instances');
describeResumeMatrix(postgresMatrix.title, {
  skip: postgresMatrix.skip,
  shared: true,
  env: () => ({ ENGINE: 'postgres', DATABASE_URL: postgresMatrix.url, PUBSUB_PREFIX: `m${randomUUID().slice(0, 8)}` }),
});
