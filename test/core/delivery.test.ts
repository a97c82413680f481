/**
 * Events reach the subscribers they are meant for, whoever publishes them:
 * server code, a client, or server code reacting to another event.
 */
import { describe, expect, it, vi } from 'vitest';
import { listen, rawClient, reply, stockClient } from '../fixtures/clients.js';
import { startHttpTrigger } from '../fixtures/http-trigger.js';
import { Inbox } from '../fixtures/inbox.js';
import { expectIdle, startServer } from '../fixtures/server.js';

const hi = { user: 'ann', text: 'hi' };

describe('delivery', () => {
  it('delivers to a subscribed client what the server publishes from an HTTP handler', async () => {
    await using srv = await startServer();
    await using http = await startHttpTrigger((body) => srv.pubsub.publish('news', body as { title: string }));
    const client = stockClient(srv.url);
    const news = listen(client.trpc.news.events, undefined);
    await news.started;

    const response = await http.trigger({ title: 'from HTTP' });

    expect(response.status).toBe(200);
    const published = (await response.json()) as { id: string };
    expect(await news.data.next()).toEqual({
      id: published.id,
      data: { kind: 'event', topic: 'news', payload: { title: 'from HTTP' }, ts: expect.any(Number) },
    });
  });

  it('delivers what one client publishes to another client and back to the publisher', async () => {
    await using srv = await startServer();
    const ann = stockClient(srv.url);
    const bob = stockClient(srv.url);
    const annRoom = listen(ann.trpc.chat.events, { key: 'room-1' });
    const bobRoom = listen(bob.trpc.chat.events, { key: 'room-1' });
    await Promise.all([annRoom.started, bobRoom.started]);

    const { id } = await ann.trpc.chat.publish.mutate({ key: 'room-1', data: hi });

    const expected = { id, data: { kind: 'event', topic: 'chat', key: 'room-1', payload: hi, ts: expect.any(Number) } };
    expect(await bobRoom.data.next()).toEqual(expected);
    expect(await annRoom.data.next()).toEqual(expected);
  });

  it('delivers every topic to an all-topics subscription, whoever publishes', async () => {
    await using srv = await startServer();
    const watcher = stockClient(srv.url);
    const publisher = stockClient(srv.url);
    const all = listen(watcher.trpc.allTopics.events, undefined);
    await all.started;

    await srv.pubsub.publish('news', { title: 'server news' });
    await publisher.trpc.chat.publish.mutate({ key: 'room-7', data: hi });
    await publisher.trpc.tick.publish.mutate();
    await watcher.trpc.chat.publish.mutate({ key: 'room-8', data: { user: 'self', text: 'echo' } });

    const events = (await all.data.take(4)).map(({ data }) => [data.topic, 'key' in data ? data.key : '-', 'payload' in data ? data.payload : '-']);
    expect(events).toEqual([
      ['news', '-', { title: 'server news' }],
      ['chat', 'room-7', hi],
      ['tick', '-', '-'],
      ['chat', 'room-8', { user: 'self', text: 'echo' }],
    ]);
  });

  it('delivers nothing after unsubscribe, and delivers again after subscribing anew', async () => {
    await using srv = await startServer();
    await using http = await startHttpTrigger((body) => srv.pubsub.publish('news', body as { title: string }));
    const client = stockClient(srv.url);
    const first = listen(client.trpc.news.events, undefined);
    await first.started;
    await http.trigger({ title: 'one' });
    expect((await first.data.next()).data.payload.title).toBe('one');

    first.unsubscribe();
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(0));
    await http.trigger({ title: 'two' });
    await first.data.nothing();

    const second = listen(client.trpc.news.events, undefined);
    await second.started;
    await http.trigger({ title: 'three' });
    expect((await second.data.next()).data.payload.title).toBe('three');
    await first.data.nothing();
    expect(srv.connections).toHaveLength(1);
  });

  it('sends no frame for a stopped subscription, on the wire', async () => {
    await using srv = await startServer();
    const raw = await rawClient(srv.url);
    await raw.subscribe(1, 'news.events');

    await raw.stop(1);
    await srv.pubsub.publish('news', { title: 'after stop' });

    await raw.waitForMessage(reply(1, 'data'), { expire: 150 });
    expect(srv.pubsub.health()).toMatchObject({ subscriptions: 0, channels: 0 });
  });

  it('keeps the keys of a keyed topic apart', async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url);
    const room1 = listen(client.trpc.chat.events, { key: 'room-1' });
    const room2 = listen(client.trpc.chat.events, { key: 'room-2' });
    await Promise.all([room1.started, room2.started]);

    await srv.pubsub.publish('chat', { user: 'ann', text: 'for room 1' }, { key: 'room-1' });
    await srv.pubsub.publish('chat', { user: 'bob', text: 'for room 2' }, { key: 'room-2' });
    await srv.pubsub.publish('chat', { user: 'cat', text: 'for room 3' }, { key: 'room-3' });

    expect((await room1.data.next()).data.payload.text).toBe('for room 1');
    expect((await room2.data.next()).data.payload.text).toBe('for room 2');
    await Promise.all([room1.data.nothing(), room2.data.nothing()]);
  });

  it('delivers every key to a subscription without a key, each event naming its key', async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url);
    const everyRoom = listen(client.trpc.chat.events, undefined);
    const everyRoomToo = listen(client.trpc.chat.events, {});
    await Promise.all([everyRoom.started, everyRoomToo.started]);

    for (const key of ['a', 'b', 'c']) await srv.pubsub.publish('chat', { user: 'ann', text: `in ${key}` }, { key });
    await srv.pubsub.publish('news', { title: 'another topic' });

    for (const subscription of [everyRoom, everyRoomToo]) {
      const events = await subscription.data.take(3);
      expect(events.map(({ data }) => [data.key, data.payload.text])).toEqual([
        ['a', 'in a'],
        ['b', 'in b'],
        ['c', 'in c'],
      ]);
      await subscription.data.nothing();
    }
  });

  it('delivers a payload-less topic, published by the server or a client, with no payload', async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url);
    const ticks = listen(client.trpc.tick.events, undefined);
    await ticks.started;

    const fromServer = await srv.pubsub.publish('tick');
    const fromClient = await client.trpc.tick.publish.mutate();
    const fromClientWithEmptyInput = await client.trpc.tick.publish.mutate({});

    const events = await ticks.data.take(3);
    expect(events.map(({ id }) => id)).toEqual([fromServer.id, fromClient.id, fromClientWithEmptyInput.id]);
    for (const { data } of events) {
      expect(data).toStrictEqual({ kind: 'event', topic: 'tick', ts: expect.any(Number) });
    }
  });

  it('stamps each event with its id, topic, key, payload and publish time, the same for every kind of subscriber', async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1' });
    const news = listen(client.trpc.news.events, undefined);
    await Promise.all([room.started, news.started]);
    const onServer = new Inbox<unknown>();
    using _stop = srv.pubsub.subscribeAll(onServer.push);

    const before = Date.now();
    const chat = await client.trpc.chat.publish.mutate({ key: 'room-1', data: hi });
    const headline = await srv.pubsub.publish('news', { title: 'read all about it' });
    const after = Date.now();

    const chatEvent = await room.data.next();
    expect(chatEvent).toEqual({ id: chat.id, data: { kind: 'event', topic: 'chat', key: 'room-1', payload: hi, ts: expect.any(Number) } });
    expect(chatEvent.data.ts).toBeGreaterThanOrEqual(before);
    expect(chatEvent.data.ts).toBeLessThanOrEqual(after);
    const newsEvent = await news.data.next();
    expect(newsEvent.data).not.toHaveProperty('key');
    expect(headline).toEqual({ id: newsEvent.id, ...newsEvent.data });
    expect(await onServer.take(2)).toEqual([{ id: chatEvent.id, ...chatEvent.data }, headline]);
  });

  it('gives events unique ids that increase in publish order, per publisher', async () => {
    await using srv = await startServer();
    await using other = await startServer();
    const client = stockClient(srv.url);
    const ids: string[] = [];
    // Past 36 events, so that a base-36 counter gains a digit.
    for (let i = 0; i < 45; i++) ids.push((await srv.pubsub.publish('news', { title: `n${i}` })).id);
    for (let i = 0; i < 5; i++) ids.push((await client.trpc.tick.publish.mutate()).id);
    const otherIds = [(await other.pubsub.publish('tick')).id, (await other.pubsub.publish('tick')).id];

    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ids).not.toContain(otherIds[0]);
    expect(ids).not.toContain(otherIds[1]);
  });

  it('serves several subscriptions on one connection, each with its own events', async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: 'room-1' });
    const news = listen(client.trpc.news.events, undefined);
    const ticks = listen(client.trpc.tick.events, undefined);
    const all = listen(client.trpc.allTopics.events, undefined);
    await Promise.all([room.started, news.started, ticks.started, all.started]);
    expect(srv.server.connectionCount).toBe(1);
    expect(srv.pubsub.health().subscriptions).toBe(4);

    await srv.pubsub.publish('chat', hi, { key: 'room-1' });
    await srv.pubsub.publish('news', { title: 'headline' });
    await srv.pubsub.publish('tick');

    expect((await room.data.next()).data.payload).toEqual(hi);
    expect((await news.data.next()).data.payload).toEqual({ title: 'headline' });
    expect((await ticks.data.next()).data.topic).toBe('tick');
    expect((await all.data.take(3)).map(({ data }) => data.topic)).toEqual(['chat', 'news', 'tick']);
    await Promise.all([room.data.nothing(), news.data.nothing(), ticks.data.nothing()]);
  });

  it('lets server code subscribe to one topic and republish on another', async () => {
    await using srv = await startServer();
    using _republish = srv.pubsub.subscribe('chat', (event) => {
      void srv.pubsub.publish('audit', { line: `${event.key}: ${event.payload.user} said ${event.payload.text}` });
    });
    const auditor = stockClient(srv.url);
    const chatter = stockClient(srv.url);
    const audit = listen(auditor.trpc.audit.events, undefined);
    await audit.started;

    await chatter.trpc.chat.publish.mutate({ key: 'room-9', data: hi });

    expect((await audit.data.next()).data.payload).toEqual({ line: 'room-9: ann said hi' });
  });

  it('ends a pubsub.events() iterator when its signal aborts, leaving no subscription behind', async () => {
    await using srv = await startServer();
    const abort = new AbortController();
    const events = srv.pubsub.events('chat', { key: 'room-1', signal: abort.signal });
    expect(srv.pubsub.health()).toMatchObject({ subscriptions: 1, channels: 1 });
    const received = new Inbox<string>();
    const loop = (async () => {
      for await (const event of events) received.push(event.payload.text);
      return 'ended';
    })();

    await srv.pubsub.publish('chat', { user: 'ann', text: 'one' }, { key: 'room-1' });
    await srv.pubsub.publish('chat', { user: 'ann', text: 'elsewhere' }, { key: 'room-2' });
    await srv.pubsub.publish('chat', { user: 'ann', text: 'two' }, { key: 'room-1' });
    expect(await received.take(2)).toEqual(['one', 'two']);
    abort.abort();

    expect(await loop).toBe('ended');
    expect(srv.pubsub.health()).toMatchObject({ subscriptions: 0, channels: 0 });
  });

  it('ends a pubsub.allEvents() iterator when the loop breaks, leaving no subscription behind', async () => {
    await using srv = await startServer();
    const loop = (async () => {
      for await (const event of srv.pubsub.allEvents()) return event.topic;
      return undefined;
    })();
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));

    await srv.pubsub.publish('tick');

    expect(await loop).toBe('tick');
    expect(srv.pubsub.health()).toMatchObject({ subscriptions: 0, channels: 0 });
  });

  it('stops a server-side callback subscription when it is called, unsubscribed or disposed', async () => {
    await using srv = await startServer();
    const received = new Inbox<string>();
    const viaCall = srv.pubsub.subscribe('news', (event) => received.push(`call:${event.payload.title}`));
    const viaMethod = srv.pubsub.subscribe('news', {}, (event) => received.push(`method:${event.payload.title}`));
    {
      using _viaDispose = srv.pubsub.subscribe('news', (event) => received.push(`dispose:${event.payload.title}`));
      await srv.pubsub.publish('news', { title: 'one' });
      expect(await received.take(3)).toEqual(['call:one', 'method:one', 'dispose:one']);
    }
    viaCall();
    viaMethod.unsubscribe();
    viaMethod.unsubscribe();

    await srv.pubsub.publish('news', { title: 'two' });

    await received.nothing();
    expect(srv.pubsub.health()).toMatchObject({ subscriptions: 0, channels: 0 });
  });

  it('keeps the other server-side subscribers going when one callback throws', async () => {
    await using srv = await startServer();
    const received = new Inbox<string>();
    using _throws = srv.pubsub.subscribe('news', () => {
      throw new Error('subscriber bug');
    });
    using _works = srv.pubsub.subscribe('news', (event) => received.push(event.payload.title));

    await expect(srv.pubsub.publish('news', { title: 'still delivered' })).resolves.toMatchObject({ topic: 'news' });

    expect(await received.next()).toBe('still delivered');
  });

  it("keeps the app's own query, mutation and subscription working beside topic subscriptions on one connection", async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url, { user: 'ann' });
    const room = listen(client.trpc.chat.events, { key: 'room-1' });
    await room.started;

    expect(await client.trpc.hello.query()).toBe('world');
    expect(await client.trpc.whoami.query()).toBe('ann');
    expect(await client.trpc.echo.mutate({ text: 'echoed' })).toBe('echoed');
    const countdown = listen(client.trpc.countdown, { from: 3 });
    await countdown.completed;
    expect(countdown.data.items).toEqual([3, 2, 1, 0]);
    await srv.pubsub.publish('chat', hi, { key: 'room-1' });

    expect((await room.data.next()).data.payload).toEqual(hi);
    expect(srv.connections).toHaveLength(1);
    room.unsubscribe();
    await client.close();
    await expectIdle(srv);
  });
});
