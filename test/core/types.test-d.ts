/**
 * The types are the product: payloads inferred from the topic declaration
 * from publisher to subscriber, wrong payloads, keys and topics rejected at
 * compile time. Checked by `vitest --typecheck` (expectTypeOf) and by
 * `tsc --noEmit` (@ts-expect-error lines).
 */
import type { CreateTRPCClient } from '@trpc/client';
import type { PubSubEvent } from 'trpc-pubsub';
import type { GapSignal, PubSubClient } from 'trpc-pubsub/client';
import { describe, expectTypeOf, it } from 'vitest';
import type { TestPubSub, TestRouter } from '../fixtures/app.js';

declare const pubsub: TestPubSub;
declare const trpc: CreateTRPCClient<TestRouter>;
declare const client: PubSubClient<TestRouter>;
declare const router: TestRouter;

type ChatPayload = { user: string; text: string };

describe('payload types follow the topic declaration', () => {
  it("types the stock client's onData from the topic", () => {
    trpc.chat.events.subscribe(
      { key: 'room-1' },
      {
        onData(event) {
          expectTypeOf(event.id).toEqualTypeOf<string>();
          expectTypeOf(event.data.kind).toEqualTypeOf<'event' | 'gap'>();
          // A gap signal comes only after a resume that could not replay everything.
          if (event.data.kind === 'gap') {
            expectTypeOf(event.data).toEqualTypeOf<GapSignal>();
            return;
          }
          expectTypeOf(event.data.topic).toEqualTypeOf<'chat'>();
          expectTypeOf(event.data.payload).toEqualTypeOf<ChatPayload>();
          expectTypeOf(event.data.key).toEqualTypeOf<string | undefined>();
          expectTypeOf(event.data.ts).toEqualTypeOf<number>();
        },
      },
    );
    trpc.news.events.subscribe(undefined, {
      onData: (event) => {
        if (event.data.kind === 'event') expectTypeOf(event.data.payload).toEqualTypeOf<{ title: string }>();
      },
    });
    trpc.allTopics.events.subscribe(undefined, {
      onData(event) {
        if (event.data.kind === 'gap') return;
        expectTypeOf(event.data.topic).toEqualTypeOf<'chat' | 'news' | 'tick' | 'secret' | 'audit'>();
        if (event.data.topic === 'news') expectTypeOf(event.data.payload).toEqualTypeOf<{ title: string }>();
        if (event.data.topic === 'chat') expectTypeOf(event.data.payload).toEqualTypeOf<ChatPayload>();
      },
    });
  });

  it("types the convenience client's callbacks from the topic", () => {
    client.subscribe('chat', { key: 'room-1' }, (event) => {
      expectTypeOf(event.id).toEqualTypeOf<string>();
      expectTypeOf(event.topic).toEqualTypeOf<'chat'>();
      expectTypeOf(event.payload).toEqualTypeOf<ChatPayload>();
      expectTypeOf(event.key).toEqualTypeOf<string | undefined>();
    });
    client.subscribe('news', (event) => expectTypeOf(event.payload).toEqualTypeOf<{ title: string }>());
    client.subscribeAll((event) => {
      if (event.topic === 'audit') expectTypeOf(event.payload).toEqualTypeOf<{ line: string }>();
    });
  });

  it('takes onGap and lastEventId on every subscription, keyed or not', () => {
    const onGap = (gap: GapSignal) => expectTypeOf(gap.reason).toEqualTypeOf<'expired' | 'unknown' | 'unsupported'>();
    client.subscribe('chat', { key: 'room-1', lastEventId: 'e:1', onGap }, () => undefined);
    client.subscribe('news', { lastEventId: 'e:1', onGap }, () => undefined);
    client.subscribeAll(() => undefined, { lastEventId: 'e:1', onGap });
    // @ts-expect-error lastEventId is a string
    client.subscribe('news', { lastEventId: 1 }, () => undefined);
  });

  it('takes last (the newest N events) on the stock input and on the convenience client', () => {
    trpc.chat.events.subscribe({ key: 'room-1', last: 20 }, { onData: () => undefined });
    trpc.allTopics.events.subscribe({ last: 5 }, { onData: () => undefined });
    client.subscribe('chat', { key: 'room-1', last: 20 }, () => undefined);
    // @ts-expect-error last is a number
    trpc.news.events.subscribe({ last: '5' }, { onData: () => undefined });
  });

  it('types server-side subscriptions, iterators and publish results from the topic', async () => {
    pubsub.subscribe('chat', { key: 'room-1' }, (event) => {
      expectTypeOf(event).toExtend<PubSubEvent>();
      expectTypeOf(event.topic).toEqualTypeOf<'chat'>();
      expectTypeOf(event.payload).toEqualTypeOf<ChatPayload>();
      expectTypeOf(event.key).toEqualTypeOf<string | undefined>();
    });
    pubsub.subscribe('tick', (event) => expectTypeOf(event.payload).toEqualTypeOf<undefined>());
    pubsub.subscribeAll((event) => {
      if (event.topic === 'secret') expectTypeOf(event.payload).toEqualTypeOf<{ code: string }>();
    });
    for await (const event of pubsub.events('news')) expectTypeOf(event.payload).toEqualTypeOf<{ title: string }>();
    expectTypeOf(await pubsub.publish('news', { title: 'x' })).toExtend<{ id: string; topic: 'news'; payload: { title: string }; ts: number }>();
    expectTypeOf(await client.publish('news', { title: 'x' })).toEqualTypeOf<{ id: string }>();
    expectTypeOf(await trpc.news.publish.mutate({ data: { title: 'x' } })).toEqualTypeOf<{ id: string }>();
  });

  it('accepts a payload-less topic without arguments everywhere', async () => {
    await pubsub.publish('tick');
    await client.publish('tick');
    await trpc.tick.publish.mutate();
    await trpc.tick.publish.mutate({});
    await router.createCaller({}).tick.publish();
  });
});

describe('wrong payloads, keys and topics do not compile', () => {
  it('rejects them on pubsub.publish', async () => {
    // @ts-expect-error text must be a string
    await pubsub.publish('chat', { user: 'ann', text: 1 }, { key: 'room-1' });
    // @ts-expect-error the keyed topic needs its key
    await pubsub.publish('chat', { user: 'ann', text: 'hi' });
    // @ts-expect-error the key must be a string
    await pubsub.publish('chat', { user: 'ann', text: 'hi' }, { key: 1 });
    // @ts-expect-error news has no key
    await pubsub.publish('news', { title: 'x' }, { key: 'room-1' });
    // @ts-expect-error news needs a payload
    await pubsub.publish('news');
    // @ts-expect-error tick takes no payload
    await pubsub.publish('tick', { surprise: true });
    // @ts-expect-error unknown topic
    await pubsub.publish('nope', { title: 'x' });
    // @ts-expect-error unknown topic
    pubsub.subscribe('nope', () => undefined);
    // @ts-expect-error news has no key
    pubsub.subscribe('news', { key: 'room-1' }, () => undefined);
  });

  it('rejects them on client.publish and client.subscribe', async () => {
    // @ts-expect-error text must be a string
    await client.publish('chat', { user: 'ann', text: 1 }, { key: 'room-1' });
    // @ts-expect-error the keyed topic needs its key
    await client.publish('chat', { user: 'ann', text: 'hi' });
    // @ts-expect-error title is missing
    await client.publish('news', {});
    // @ts-expect-error tick takes no payload
    await client.publish('tick', { surprise: true });
    // @ts-expect-error unknown topic
    await client.publish('nope', { title: 'x' });
    // @ts-expect-error not a topic: the app's own query
    await client.publish('hello', undefined);
    // @ts-expect-error unknown topic
    client.subscribe('nope', () => undefined);
    // @ts-expect-error news has no key
    client.subscribe('news', { key: 'room-1' }, () => undefined);
  });

  it('rejects them on trpc.<topic>.publish.mutate and .events.subscribe', async () => {
    // @ts-expect-error text must be a string
    await trpc.chat.publish.mutate({ key: 'room-1', data: { user: 'ann', text: 1 } });
    // @ts-expect-error the keyed topic needs its key
    await trpc.chat.publish.mutate({ data: { user: 'ann', text: 'hi' } });
    // @ts-expect-error news needs its data
    await trpc.news.publish.mutate({});
    // @ts-expect-error tick takes no payload
    await trpc.tick.publish.mutate({ data: { surprise: true } });
    // @ts-expect-error unknown topic
    await trpc.nope.publish.mutate({ data: {} });
    // @ts-expect-error news has no key
    trpc.news.events.subscribe({ key: 'room-1' }, { onData: () => undefined });
    // @ts-expect-error the key must be a string
    trpc.chat.events.subscribe({ key: 1 }, { onData: () => undefined });
  });

  it('rejects them through createCaller', async () => {
    const caller = router.createCaller({});
    // @ts-expect-error text must be a string
    await caller.chat.publish({ key: 'room-1', data: { user: 'ann', text: 1 } });
    // @ts-expect-error the keyed topic needs its key
    await caller.chat.publish({ data: { user: 'ann', text: 'hi' } });
  });
});
