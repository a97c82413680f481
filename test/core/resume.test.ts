/**
 * Resume after a reconnect through the stock `wsLink` and a tRPC caller,
 * on the memory engine: what was missed is replayed after `started` and
 * before live events, with no gap and no duplicate; what cannot be replayed
 * is announced by a tracked gap signal, then live events follow.
 */
import { initTRPC } from '@trpc/server';
import * as z from 'zod';
import { createPubSub, createPubSubRouter, defineTopics, MemoryEngine, silentLogger, topic, type EngineContext, type HistoryRead, type PubSubEvent, type SubscriptionScope } from 'trpc-pubsub';
import { PubSub as GraphQLPubSub } from 'graphql-subscriptions';
import { graphqlSubscriptionsEngine } from 'trpc-pubsub/redis';
import { describe, expect, it, vi } from 'vitest';
import { listen, pubsubClient, stockClient } from '../fixtures/clients.js';
import { deferred, Inbox } from '../fixtures/inbox.js';
import { expectIdle, reconnected, startServer } from '../fixtures/server.js';

const say = (text: string) => ({ user: 'ann', text });


describe('resume through the stock wsLink', () => {
  it('resubscribes all 150 subscriptions of a client after a reconnect (wsLink sends them in one batch) and each resumes', async () => {
    await using srv = await startServer();
    await using client = stockClient(srv.url);
    const rooms = Array.from({ length: 150 }, (_, i) => listen(client.trpc.chat.events, { key: `room-${i}` }));
    await Promise.all(rooms.map((room) => room.started));
    await Promise.all(rooms.map((_, i) => srv.pubsub.publish('chat', say(`before ${i}`), { key: `room-${i}` })));
    await Promise.all(rooms.map((room) => room.data.next()));

    srv.connections[0]?.socket.terminate();
    await Promise.all(rooms.map((_, i) => srv.pubsub.publish('chat', say(`away ${i}`), { key: `room-${i}` })));
    await reconnected(srv, 2, 150);

    const resumed = await Promise.all(rooms.map((room) => room.data.next()));
    expect(resumed.map((item) => item.data.payload.text)).toEqual(rooms.map((_, i) => `away ${i}`));
    await Promise.all(rooms.map((room) => room.gaps.nothing(0)));
  });

  it('replays what was published while the client was away, then goes on live, without a gap or a duplicate', async () => {
    await using srv = await startServer();
    await using client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1' });
    await room.started;
    await srv.pubsub.publish('chat', say('before'), { key: 'room-1' });
    expect((await room.data.next()).data.payload.text).toBe('before');

    srv.connections[0]?.socket.terminate();
    // The subscription is still in the index, but its socket no longer takes frames.
    await srv.pubsub.publish('chat', say('while away 1'), { key: 'room-1' });
    await srv.pubsub.publish('chat', say('while away 2'), { key: 'room-1' });
    await srv.pubsub.publish('chat', say('other room'), { key: 'room-2' });
    await reconnected(srv, 2, 1);
    await srv.pubsub.publish('chat', say('after'), { key: 'room-1' });

    await vi.waitFor(() => expect(room.data.items).toHaveLength(4));
    expect(room.data.items.map((item) => item.data.payload.text)).toEqual(['before', 'while away 1', 'while away 2', 'after']);
    expect(new Set(room.data.items.map((item) => item.id)).size).toBe(4);
    await room.gaps.nothing(50);
  });

  it('tells a subscription resuming from an id of another history about the gap, then delivers live events', async () => {
    await using srv = await startServer();
    await using client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1', lastEventId: 'foreign:11' });
    await room.started;

    const gap = await room.gaps.next();
    expect(gap.data).toEqual({ kind: 'gap', topic: 'chat', key: 'room-1', reason: 'unknown', after: 'foreign:11', ts: expect.any(Number) });
    expect(gap.id).not.toBe('foreign:11'); // the client resumes from the history's head next time
    await srv.pubsub.publish('chat', say('live'), { key: 'room-1' });
    expect((await room.data.next()).data.payload.text).toBe('live');
  });

  it('says expired when more than maxEvents came since, and the gap carries the newest id', async () => {
    await using srv = await startServer();
    const first = await srv.pubsub.publish('chat', say('first'), { key: 'room-1' });
    let newest = first.id;
    for (let i = 0; i < 101; i++) newest = (await srv.pubsub.publish('chat', say(`#${i}`), { key: 'room-1' })).id;
    await using client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1', lastEventId: first.id });

    const gap = await room.gaps.next();
    expect(gap.data).toMatchObject({ kind: 'gap', reason: 'expired', after: first.id });
    expect(gap.id).toBe(newest);
    await room.data.nothing(50);
  });

  it('says unsupported for a topic without history', async () => {
    await using srv = await startServer();
    const old = await srv.pubsub.publish('news', { title: 'old' });
    await using client = stockClient(srv.url);
    const news = listen(client.trpc.news.events, { lastEventId: old.id });
    expect((await news.gaps.next()).data).toMatchObject({ kind: 'gap', topic: 'news', reason: 'unsupported', after: old.id });
    await srv.pubsub.publish('news', { title: 'live' });
    expect((await news.data.next()).data.payload.title).toBe('live');
    await news.gaps.nothing(20);
  });

  it('says unsupported on an engine that keeps no history yet (the bridge engines), then delivers live events', async () => {
    await using srv = await startServer({ pubsub: { engine: graphqlSubscriptionsEngine(new GraphQLPubSub()) } });
    await using client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1', lastEventId: 'abc:11' });
    expect((await room.gaps.next()).data).toMatchObject({ kind: 'gap', topic: 'chat', key: 'room-1', reason: 'unsupported', after: 'abc:11' });
    await srv.pubsub.publish('chat', say('live'), { key: 'room-1' });
    expect((await room.data.next()).data.payload.text).toBe('live');
  });

  it('replays to a subscription of every key of a topic, in publish order across keys', async () => {
    await using srv = await startServer();
    const mark = await srv.pubsub.publish('chat', say('mark'), { key: 'room-1' });
    await srv.pubsub.publish('chat', say('r2'), { key: 'room-2' });
    await srv.pubsub.publish('chat', say('r1'), { key: 'room-1' });
    await using client = stockClient(srv.url);
    const rooms = listen(client.trpc.chat.events, { lastEventId: mark.id });
    await vi.waitFor(() => expect(rooms.data.items).toHaveLength(2));
    expect(rooms.data.items.map((item) => [item.data.key, item.data.payload.text])).toEqual([
      ['room-2', 'r2'],
      ['room-1', 'r1'],
    ]);
    await rooms.gaps.nothing(20);
    rooms.unsubscribe();
    await client.close();
    await expectIdle(srv);
  });
});

describe('starting with the newest events (a late joiner)', () => {
  it('gives a subscription asking for last: N the newest N events of its channel after started, then live events', async () => {
    await using srv = await startServer();
    for (const text of ['one', 'two', 'three']) await srv.pubsub.publish('chat', say(text), { key: 'room-1' });
    await srv.pubsub.publish('chat', say('another room'), { key: 'room-2' });
    await using client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1', last: 2 });
    await room.started;
    expect((await room.data.take(2)).map((item) => item.data.payload.text)).toEqual(['two', 'three']);
    await srv.pubsub.publish('chat', say('live'), { key: 'room-1' });
    expect((await room.data.next()).data.payload.text).toBe('live');
    await room.gaps.nothing(20);
  });

  it('gives everything kept when last asks for more, and nothing (no gap) on a topic without history', async () => {
    await using srv = await startServer();
    await srv.pubsub.publish('chat', say('only one'), { key: 'room-1' });
    await srv.pubsub.publish('news', { title: 'not kept' });
    await using client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1', last: 50 });
    const news = listen(client.trpc.news.events, { last: 5 });
    expect((await room.data.next()).data.payload.text).toBe('only one');
    await news.started;
    await Promise.all([room.data.nothing(30), news.data.nothing(30), news.gaps.nothing(30)]);
  });

  it('resumes after lastEventId instead when both are given (what wsLink sends on reconnect)', async () => {
    await using srv = await startServer();
    const mark = await srv.pubsub.publish('chat', say('mark'), { key: 'room-1' });
    await srv.pubsub.publish('chat', say('after the mark'), { key: 'room-1' });
    await using client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1', last: 10, lastEventId: mark.id });
    expect((await room.data.next()).data.payload.text).toBe('after the mark');
    await room.data.nothing(30);
  });

  it('refuses last outside 1-1000 with BAD_REQUEST', async () => {
    await using srv = await startServer();
    await using client = stockClient(srv.url);
    for (const last of [0, 1001, 1.5]) {
      expect((await listen(client.trpc.chat.events, { key: 'room-1', last }).error).data?.code).toBe('BAD_REQUEST');
    }
  });

  it('gives the convenience client the newest events with { last }', async () => {
    await using srv = await startServer();
    for (const text of ['a', 'b', 'c']) await srv.pubsub.publish('chat', say(text), { key: 'room-1' });
    const client = pubsubClient(srv.url);
    const room = new Inbox<{ payload: { text: string } }>();
    await client.subscribe('chat', { key: 'room-1', last: 2 }, room.push).started;
    expect((await room.take(2)).map((event) => event.payload.text)).toEqual(['b', 'c']);
    await room.nothing(30);
    await client.close();
  });
});

describe('resume through a tRPC caller', () => {
  const topics = defineTopics({
    chat: topic({ key: z.string(), payload: z.string(), history: { maxEvents: 10 } }),
    news: topic({ payload: z.string(), history: { maxEvents: 10 } }),
  });

  it('replays every topic to an all-topics subscription when every topic keeps history', async () => {
    await using pubsub = createPubSub({ topics, logger: silentLogger });
    const controller = new AbortController();
    const caller = initTRPC.create().createCallerFactory(createPubSubRouter(pubsub))({}, { signal: controller.signal });
    const mark = await pubsub.publish('news', 'mark');
    await pubsub.publish('chat', 'c1', { key: 'a' });
    await pubsub.publish('news', 'n1');
    const iterator = (await caller.allTopics.events({ lastEventId: mark.id }))[Symbol.asyncIterator]();

    const first = (await iterator.next()).value as unknown as [string, { payload: string }];
    const second = (await iterator.next()).value as unknown as [string, { payload: string }];
    expect([first[1].payload, second[1].payload]).toEqual(['c1', 'n1']);
    controller.abort();
    await vi.waitFor(() => expect(pubsub.health().subscriptions).toBe(0));
  });

  it('drops the live copy of a replayed event that reaches the instance only after the replay (history and live travel apart)', async () => {
    /** The real memory engine, whose live deliveries the test holds back (as a broker's subscriber connection lags its history reads). */
    class LaggingLive extends MemoryEngine {
      held: PubSubEvent[] | undefined = [];
      #deliver: ((event: PubSubEvent) => void) | undefined;
      override start(context: EngineContext): void {
        this.#deliver = context.deliver;
        super.start({ ...context, deliver: (event) => (this.held === undefined ? context.deliver(event) : this.held.push(event)) });
      }
      release(): void {
        const held = this.held ?? [];
        this.held = undefined;
        for (const event of held) this.#deliver!(event);
      }
    }
    const engine = new LaggingLive();
    await using pubsub = createPubSub({ topics, engine, logger: silentLogger });
    const controller = new AbortController();
    const caller = initTRPC.create().createCallerFactory(createPubSubRouter(pubsub))({}, { signal: controller.signal });
    const mark = await pubsub.publish('chat', 'mark', { key: 'a' });
    const late = await pubsub.publish('chat', 'in history, live copy late', { key: 'a' });
    const iterator = (await caller.chat.events({ key: 'a', lastEventId: mark.id }))[Symbol.asyncIterator]();
    const payloadOf = (result: IteratorResult<unknown>) => (result.value as [string, { payload: string }])[1].payload;
    expect(payloadOf(await iterator.next())).toBe('in history, live copy late');

    engine.release(); // the live copies of mark (the client had it) and of the replayed event arrive now
    const after = await pubsub.publish('chat', 'after', { key: 'a' });
    const next = (await iterator.next()).value as unknown as [string, { payload: string }];
    expect([next[0], next[1].payload]).toEqual([after.id, 'after']);
    expect(late.id).not.toBe(after.id);
    controller.abort();
    await vi.waitFor(() => expect(pubsub.health().subscriptions).toBe(0));
  });

  it('drops from the live events what the replay already gave, when events arrive while the history is read', async () => {
    const reading = deferred();
    const release = deferred();
    /** The real memory engine, whose history read the test holds until it has published more. */
    class HeldHistory extends MemoryEngine {
      override async since(scope: SubscriptionScope, cursor: string): Promise<HistoryRead> {
        reading.resolve();
        await release.promise;
        return super.since(scope, cursor);
      }
    }
    await using pubsub = createPubSub({ topics, engine: new HeldHistory(), logger: silentLogger });
    const controller = new AbortController();
    const caller = initTRPC.create().createCallerFactory(createPubSubRouter(pubsub))({}, { signal: controller.signal });
    const mark = await pubsub.publish('chat', 'mark', { key: 'a' });
    await pubsub.publish('chat', 'missed', { key: 'a' });
    const iterator = (await caller.chat.events({ key: 'a', lastEventId: mark.id }))[Symbol.asyncIterator]();
    const next = iterator.next();

    await reading.promise;
    await pubsub.publish('chat', 'during the read', { key: 'a' }); // held live, and in the history the read will see
    release.resolve();
    await pubsub.publish('chat', 'after', { key: 'a' });

    const texts: string[] = [];
    const payloadOf = (result: IteratorResult<unknown>) => (result.value as [string, { payload: string }])[1].payload;
    texts.push(payloadOf(await next));
    while (texts.length < 3) texts.push(payloadOf(await iterator.next()));
    expect(texts).toEqual(['missed', 'during the read', 'after']);
    // Nothing twice: the next item is the next event, not a held copy of a replayed one.
    await pubsub.publish('chat', 'last', { key: 'a' });
    expect(payloadOf(await iterator.next())).toBe('last');
    controller.abort();
    await vi.waitFor(() => expect(pubsub.health().subscriptions).toBe(0));
  });
});
