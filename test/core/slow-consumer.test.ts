/**
 * Subscribers that fall behind: a WebSocket client that stops reading is
 * closed with 4429 once its send buffer passes `slowConsumer.maxBufferedBytes`
 * (and nobody else notices), one that is merely slow is kept; a server-side
 * iterator nobody reads fails with TOO_MANY_REQUESTS past
 * `maxQueuedPerIterator`, never dropping events silently.
 */
import { TRPCError } from '@trpc/server';
import { createPubSub, createPubSubRouter, silentLogger } from 'trpc-pubsub';
import WebSocket from 'ws';
import { describe, expect, it, vi } from 'vitest';
import { topics } from '../fixtures/app.js';
import { listen, rawClient, reply, stockClient, type Frame, type RawClient } from '../fixtures/clients.js';
import { expectIdle, startServer } from '../fixtures/server.js';

const KiB = 1024;
/** The `slowConsumer.maxBufferedBytes` of these tests. */
const LIMIT = 64 * KiB;

/** A chat message whose text starts with `#<n>` and is `size` characters long. */
function message(n: number, size: number) {
  return { user: 'ann', text: `#${n} `.padEnd(size, 'x') };
}

/** The text of a chat event frame (`result.data` is tRPC's tracked `{ id, data: WireEvent }`). */
function textOf(frame: Frame): string {
  return (frame as { result: { data: { data: { payload: { text: string } } } } }).result.data.data.payload.text;
}

/** The texts of every chat event a raw client has received on subscription `id`, read or not, in order. */
function textsOn(raw: RawClient, id: number): string[] {
  return raw.frames.filter(reply(id, 'data')).map(textOf);
}

/** Reads the next `count` chat events of subscription `id` off a raw client and returns their texts. */
async function readTexts(raw: RawClient, id: number, count: number): Promise<string[]> {
  const texts: string[] = [];
  for (let i = 0; i < count; i++) texts.push(textOf(await raw.waitForMessage(reply(id, 'data'))));
  return texts;
}

/**
 * A server with a small slow-consumer limit, a raw subscriber to `room-1`
 * the test can stop reading (and its server-side socket), and a healthy
 * stock subscriber to the same room, both started.
 */
async function roomWithTwoSubscribers() {
  const srv = await startServer({ server: { slowConsumer: { maxBufferedBytes: LIMIT } } });
  const raw = await rawClient(srv.url);
  const onServer = srv.connections[0]!;
  await raw.subscribe(1, 'chat.events', { key: 'room-1' });
  const healthyClient = stockClient(srv.url);
  const healthy = listen(healthyClient.trpc.chat.events, { key: 'room-1' });
  await healthy.started;
  return { srv, raw, onServer, healthyClient, healthy };
}

describe('a WebSocket subscriber that stops reading', () => {
  it('is closed with 4429 once its send buffer passes maxBufferedBytes, while a healthy subscriber gets every event in order', async () => {
    const { srv, raw: stalled, onServer: stalledOnServer, healthyClient, healthy } = await roomWithTwoSubscribers();
    await using _server = srv;
    expect(srv.pubsub.health().subscriptions).toBe(2);

    stalled.socket.pause(); // the stalled client's TCP socket is read no more: the kernel buffers fill, then the server's
    // One event per round trip of the healthy subscriber, so only a socket that does not read can fall behind.
    // Bounded: 2,000 events of 32 KiB (64 MiB) are far more than loopback's kernel buffers hold.
    const published: string[] = [];
    const received: string[] = [];
    for (let n = 0; stalledOnServer.socket.readyState === WebSocket.OPEN; n++) {
      if (n === 2000) throw new Error(`the stalled connection was not closed after ${n} events of 32 KiB`);
      const event = message(n, 32 * KiB);
      await srv.pubsub.publish('chat', event, { key: 'room-1' });
      published.push(event.text);
      received.push((await healthy.data.next()).data.payload.text);
    }
    // The server is closing the stalled connection: later events still reach the healthy subscriber.
    for (let n = published.length, end = n + 3; n < end; n++) {
      const event = message(n, 32 * KiB);
      await srv.pubsub.publish('chat', event, { key: 'room-1' });
      published.push(event.text);
      received.push((await healthy.data.next()).data.payload.text);
    }

    await vi.waitFor(() => expect(srv.disconnects).toHaveLength(1), { timeout: 5000 });
    expect(srv.disconnects[0]).toMatchObject({ id: stalledOnServer.id, code: 4429 });
    expect(srv.server.connectionCount).toBe(1);
    expect(srv.pubsub.health().subscriptions).toBe(1);
    expect(received).toEqual(published);
    await healthy.data.nothing();
    expect(healthy.data.items).toHaveLength(published.length);
    expect(srv.connections).toHaveLength(2);

    stalled.socket.resume();
    await stalled.waitForClose();
    expect(textsOn(stalled, 1)).toEqual(published.slice(0, textsOn(stalled, 1).length)); // what it did get: a prefix, in order
    healthy.unsubscribe();
    await healthyClient.close();
    await expectIdle(srv);
  });

  it('resumes from history when it comes back after the 4429, with exactly what it missed, then live events', async () => {
    const { srv, raw: stalled, onServer: stalledOnServer, healthyClient, healthy } = await roomWithTwoSubscribers();
    await using _server = srv;
    stalled.socket.pause();
    // Large events, so that the kernel buffers hold few of them and what the stalled client misses fits the room's history (100).
    const published: string[] = [];
    for (let n = 0; stalledOnServer.socket.readyState === WebSocket.OPEN || n < 3; n++) {
      if (n === 400) throw new Error(`the stalled connection was not closed after ${n} events of 256 KiB`);
      const event = message(n, 256 * KiB);
      await srv.pubsub.publish('chat', event, { key: 'room-1' });
      published.push(event.text);
      await healthy.data.next();
    }
    stalled.socket.resume();
    expect((await stalled.waitForClose()).code).toBe(4429);
    const got = stalled.frames.filter(reply(1, 'data')) as { result: { data: { id: string } } }[];
    const missed = published.slice(got.length);
    expect(missed.length).toBeGreaterThan(0);
    expect(missed.length).toBeLessThanOrEqual(100);

    await using back = stockClient(srv.url);
    const resumed = listen(back.trpc.chat.events, { key: 'room-1', lastEventId: got.at(-1)!.result.data.id });
    await resumed.started;
    await srv.pubsub.publish('chat', message(published.length, 16), { key: 'room-1' });
    const texts = (await resumed.data.take(missed.length + 1)).map(({ data }) => data.payload.text);
    expect(texts).toEqual([...missed, message(published.length, 16).text]);
    await Promise.all([resumed.data.nothing(), resumed.gaps.nothing(0)]);
    healthy.unsubscribe();
    await healthyClient.close();
  });

  it('is kept, and gets every event in order, when it reads slower than events arrive but its send buffer stays under maxBufferedBytes', async () => {
    const { srv, raw: slow, onServer: slowOnServer, healthyClient, healthy } = await roomWithTwoSubscribers();
    await using _server = srv;

    // Each round: the slow client stops reading, a burst of 11 × 4 KiB events is published in one loop turn
    // (the server holds all but the first in its own send buffer: about 40 KiB, under the 64 KiB limit),
    // the healthy subscriber gets them, then the slow one reads again and catches up.
    // Four rounds send about 176 KiB in all: the limit bounds the backlog, not the traffic.
    const published: string[] = [];
    for (let round = 0; round < 4; round++) {
      slow.socket.pause();
      const burst = Array.from({ length: 11 }, (_, i) => message(published.length + i, 4 * KiB));
      const publishing = burst.map((event) => srv.pubsub.publish('chat', event, { key: 'room-1' }));
      expect(slowOnServer.socket.bufferedAmount).toBeGreaterThan(36 * KiB); // the backlog is real: held by the server
      expect(slowOnServer.socket.bufferedAmount).toBeLessThan(LIMIT);
      await Promise.all(publishing);
      published.push(...burst.map(({ text }) => text));

      expect((await healthy.data.take(burst.length)).map(({ data }) => data.payload.text)).toEqual(burst.map(({ text }) => text));
      expect(textsOn(slow, 1)).toHaveLength(published.length - burst.length); // it is behind
      slow.socket.resume();
      expect(await readTexts(slow, 1, burst.length)).toEqual(burst.map(({ text }) => text));
    }

    expect(textsOn(slow, 1)).toEqual(published);
    await slow.waitForMessage(reply(1, 'data'), { expire: 150 }); // and nothing more
    await healthy.data.nothing(0);
    expect(slowOnServer.socket.readyState).toBe(WebSocket.OPEN);
    expect(srv.disconnects).toEqual([]);
    expect(srv.server.connectionCount).toBe(2);
    expect(srv.pubsub.health().subscriptions).toBe(2);
  });
});

describe('a server-side iterator nobody reads (maxQueuedPerIterator)', () => {
  const MAX_QUEUED = 3;

  /** A pubsub of the test topics whose iterators hold at most MAX_QUEUED events. */
  function boundedPubSub() {
    return createPubSub({ topics, logger: silentLogger, maxQueuedPerIterator: MAX_QUEUED });
  }

  it('holds exactly maxQueuedPerIterator undelivered events, every one readable in order, and goes on after', async () => {
    await using pubsub = boundedPubSub();
    using _other = pubsub.subscribe('news', () => undefined);
    const before = pubsub.health().subscriptions;
    const events = pubsub.events('chat', { key: 'room-1' });
    expect(pubsub.health().subscriptions).toBe(before + 1);

    for (let n = 0; n < MAX_QUEUED; n++) await pubsub.publish('chat', message(n, 10), { key: 'room-1' });

    expect(pubsub.health().subscriptions).toBe(before + 1);
    const texts: string[] = [];
    for (let n = 0; n < MAX_QUEUED; n++) {
      const next = await events.next();
      expect(next.done).toBe(false);
      texts.push((next.value as { payload: { text: string } }).payload.text);
    }
    expect(texts).toEqual(Array.from({ length: MAX_QUEUED }, (_, n) => message(n, 10).text));
    await pubsub.publish('chat', message(MAX_QUEUED, 10), { key: 'room-1' });
    expect((await events.next()).value?.payload.text).toBe(message(MAX_QUEUED, 10).text);
    await events.return?.();
    expect(pubsub.health().subscriptions).toBe(before);
  });

  it('fails with TOO_MANY_REQUESTS at one event past it, and leaves the pubsub', async () => {
    await using pubsub = boundedPubSub();
    using _other = pubsub.subscribe('news', () => undefined);
    const before = pubsub.health().subscriptions;
    const events = pubsub.events('chat', { key: 'room-1' });
    for (let n = 0; n < MAX_QUEUED; n++) await pubsub.publish('chat', message(n, 10), { key: 'room-1' });
    expect(pubsub.health().subscriptions).toBe(before + 1);

    await pubsub.publish('chat', message(MAX_QUEUED, 10), { key: 'room-1' });

    expect(pubsub.health().subscriptions).toBe(before);
    const { yielded, failure } = await drain(events);
    expect(failure).toBeInstanceOf(TRPCError);
    expect(failure).toMatchObject({ code: 'TOO_MANY_REQUESTS', message: expect.stringMatching(new RegExp(`more than ${MAX_QUEUED} events`)) });
    // Never the event that overflowed, nor a silent gap: at most what was queued, in order.
    const queued = Array.from({ length: MAX_QUEUED }, (_, n) => message(n, 10).text);
    expect(queued.slice(0, yielded.length)).toEqual(yielded.map((event) => event.payload.text));
    expect(await events.next()).toEqual({ done: true, value: undefined });
    await pubsub.publish('chat', message(MAX_QUEUED + 1, 10), { key: 'room-1' });
    expect(await events.next()).toEqual({ done: true, value: undefined });
    expect(pubsub.health().subscriptions).toBe(before);
  });

  it('fails a tRPC caller subscription the same way when it is iterated without reading', async () => {
    await using pubsub = boundedPubSub();
    const caller = createPubSubRouter(pubsub).createCaller({});
    const before = pubsub.health().subscriptions;
    const events = (await caller.chat.events({ key: 'room-1' }))[Symbol.asyncIterator]();
    expect(pubsub.health().subscriptions).toBe(before + 1);

    for (let n = 0; n < MAX_QUEUED; n++) await pubsub.publish('chat', message(n, 10), { key: 'room-1' });
    expect(pubsub.health().subscriptions).toBe(before + 1);
    await pubsub.publish('chat', message(MAX_QUEUED, 10), { key: 'room-1' });

    expect(pubsub.health().subscriptions).toBe(before);
    const { yielded, failure } = await drain(events);
    expect(failure).toBeInstanceOf(TRPCError);
    expect(failure).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    // A caller receives tRPC's tracked envelope, `[id, event]`.
    const queued = Array.from({ length: MAX_QUEUED }, (_, n) => message(n, 10).text);
    const texts = yielded.map((envelope) => (envelope as unknown as [string, { payload: { text: string } }])[1].payload.text);
    expect(queued.slice(0, texts.length)).toEqual(texts);
  });

  it('holds exactly maxQueuedPerIterator events for a tRPC caller subscription, and delivers them in order', async () => {
    await using pubsub = boundedPubSub();
    const caller = createPubSubRouter(pubsub).createCaller({});
    const events = (await caller.chat.events({ key: 'room-1' }))[Symbol.asyncIterator]();

    const ids: string[] = [];
    for (let n = 0; n < MAX_QUEUED; n++) ids.push((await pubsub.publish('chat', message(n, 10), { key: 'room-1' })).id);

    const read: string[] = [];
    for (let n = 0; n < MAX_QUEUED; n++) read.push((((await events.next()).value as unknown as [string, unknown]))[0]);
    expect(read).toEqual(ids);
    expect(pubsub.health().subscriptions).toBe(1);
    await events.return?.();
    expect(pubsub.health().subscriptions).toBe(0);
  });
});

/** Reads an iterator to its end: what it yielded, and what it failed with (`undefined` when it ended normally). */
async function drain<T>(iterator: AsyncIterator<T>): Promise<{ yielded: T[]; failure: unknown }> {
  const yielded: T[] = [];
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return { yielded, failure: undefined };
      yielded.push(next.value);
    }
  } catch (failure) {
    return { yielded, failure };
  }
}
