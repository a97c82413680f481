/**
 * Every bad input gets a tRPC error envelope with a stable code and a
 * message naming the problem; the connection that sent it keeps working,
 * and other clients never notice. Only a frame over the size limit closes
 * the connection (1009).
 */
import { TRPCClientError } from '@trpc/client';
import { TRPCError, type TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { describe, expect, it, vi } from 'vitest';
import { listen, rawClient, reply, stockClient, type AnyClientError, type Frame, type Listening, type StockClient } from '../fixtures/clients.js';
import { Inbox } from '../fixtures/inbox.js';
import { expectIdle, startServer, type TestServer } from '../fixtures/server.js';

const hi = { user: 'ann', text: 'hi' };

/** Resolves with the error a call failed with; fails if it succeeded. */
function refusal(call: Promise<unknown>): Promise<AnyClientError> {
  return call.then(
    (result) => {
      throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
    },
    (error: unknown) => error as AnyClientError,
  );
}

/** Resolves with the error a stock subscription was refused with; fails as soon as it starts instead. */
function subscriptionRefusal(subscription: Pick<Listening<unknown>, 'error' | 'started'>): Promise<AnyClientError> {
  return new Promise((resolve, reject) => {
    void subscription.error.then(resolve);
    subscription.started.then(
      () => reject(new Error('expected a refusal, but the subscription started')),
      () => undefined,
    );
  });
}

/** A client subscribed to room-1 that must keep receiving whatever others do wrong. */
async function startObserver(srv: TestServer) {
  const observer = stockClient(srv.url);
  const room = listen(observer.trpc.chat.events, { key: 'room-1' });
  await room.started;
  return {
    async stillReceives(text: string) {
      await srv.pubsub.publish('chat', { user: 'server', text }, { key: 'room-1' });
      expect((await room.data.next()).data.payload.text).toBe(text);
    },
  };
}

interface StockCase {
  what: string;
  code: TRPC_ERROR_CODE_KEY;
  message: RegExp;
  call: (trpc: StockClient['trpc']) => Promise<AnyClientError>;
}

const stockCases: StockCase[] = [
  {
    what: 'a publish with an invalid payload',
    code: 'BAD_REQUEST',
    message: /chat\.publish[^]*expected string, received number[^]*data\.text/,
    call: (trpc) => refusal(trpc.chat.publish.mutate({ key: 'room-1', data: { user: 'ann', text: 42 as unknown as string } })),
  },
  {
    what: 'a publish without the key of a keyed topic',
    code: 'BAD_REQUEST',
    message: /chat\.publish[^]*at key/,
    call: (trpc) => refusal(trpc.chat.publish.mutate({ data: hi } as never)),
  },
  {
    what: 'a publish with an invalid key',
    code: 'BAD_REQUEST',
    message: /chat\.publish[^]*>=1 characters[^]*at key/,
    call: (trpc) => refusal(trpc.chat.publish.mutate({ key: '', data: hi })),
  },
  {
    what: 'a publish with a key on a topic without keys',
    code: 'BAD_REQUEST',
    message: /news\.publish[^]*Unrecognized key[^]*"key"/,
    call: (trpc) => refusal(trpc.news.publish.mutate({ key: 'room-1', data: { title: 'keyed?' } } as never)),
  },
  {
    what: 'a publish with a payload on a payload-less topic',
    code: 'BAD_REQUEST',
    message: /tick\.publish[^]*expected undefined[^]*at data/,
    call: (trpc) => refusal(trpc.tick.publish.mutate({ data: { surprise: true } } as never)),
  },
  {
    what: 'a publish on an unknown topic',
    code: 'NOT_FOUND',
    message: /No "mutation"-procedure on path "nope\.publish"/,
    call: (trpc) => refusal((trpc as unknown as { nope: typeof trpc.news }).nope.publish.mutate({ data: { title: 'x' } })),
  },
  {
    what: 'a subscription with an invalid key',
    code: 'BAD_REQUEST',
    message: /chat\.events[^]*>=1 characters[^]*at key/,
    call: (trpc) => listen(trpc.chat.events, { key: '' }).error,
  },
  {
    what: 'a subscription with a key on a topic without keys',
    code: 'BAD_REQUEST',
    message: /news\.events[^]*Unrecognized key[^]*"key"/,
    call: (trpc) => listen(trpc.news.events, { key: 'room-1' } as never).error,
  },
  {
    what: 'a subscription with a malformed lastEventId',
    code: 'BAD_REQUEST',
    message: /chat\.events[^]*lastEventId must be/,
    call: (trpc) => listen(trpc.chat.events, { key: 'room-1', lastEventId: 'not an id!' }).error,
  },
  {
    what: 'a subscription to an unknown topic',
    code: 'NOT_FOUND',
    message: /No "subscription"-procedure on path "nope\.events"/,
    call: (trpc) => listen((trpc as unknown as { nope: typeof trpc.news }).nope.events, undefined).error,
  },
  {
    what: 'a subscription beyond maxSubscriptionsPerConnection',
    code: 'TOO_MANY_REQUESTS',
    message: /maximum of 3 subscriptions/,
    call: async (trpc) => {
      const held = [listen(trpc.news.events, undefined), listen(trpc.tick.events, undefined), listen(trpc.audit.events, undefined)];
      await Promise.all(held.map((subscription) => subscription.started));
      const error = await listen(trpc.chat.events, { key: 'room-1' }).error;
      for (const subscription of held) subscription.unsubscribe();
      return error;
    },
  },
];

interface RawCase {
  what: string;
  code: TRPC_ERROR_CODE_KEY;
  message: RegExp;
  /** The id the error envelope carries. */
  id: number | null;
  /** Frames sent first, each awaited to its reply (a subscription that holds an id). */
  before?: { frame: unknown; awaits: (frame: Frame) => boolean }[];
  send: unknown;
}

const subscribeNews = (id: number) => ({ frame: { id, method: 'subscription', params: { path: 'news.events' } }, awaits: reply(id, 'started') });

const rawCases: RawCase[] = [
  { what: 'a frame that is not JSON', send: '{"id":1,"method":', code: 'PARSE_ERROR', id: null, message: /not valid JSON/ },
  { what: 'a message that is not an object', send: '42', code: 'PARSE_ERROR', id: null, message: /must be a JSON object/ },
  {
    what: 'an id that is an object',
    send: { id: { sneaky: true }, method: 'query', params: { path: 'hello' } },
    code: 'PARSE_ERROR',
    id: null,
    message: /`id` must be an integer or a string/,
  },
  { what: 'an unknown method', send: { id: 5, method: 'frobnicate', params: {} }, code: 'METHOD_NOT_SUPPORTED', id: 5, message: /Unknown method "frobnicate"/ },
  { what: 'a message without a method', send: { id: 6, params: { path: 'hello' } }, code: 'METHOD_NOT_SUPPORTED', id: 6, message: /Unknown method undefined/ },
  {
    what: 'a subscription id already in use',
    before: [subscribeNews(1)],
    send: { id: 1, method: 'subscription', params: { path: 'tick.events' } },
    code: 'BAD_REQUEST',
    id: 1,
    message: /Duplicate id 1/,
  },
  {
    what: 'a subscription beyond maxSubscriptionsPerConnection',
    before: [subscribeNews(1), subscribeNews(2), subscribeNews(3)],
    send: { id: 4, method: 'subscription', params: { path: 'tick.events' } },
    code: 'TOO_MANY_REQUESTS',
    id: 4,
    message: /maximum of 3 subscriptions/,
  },
  {
    what: 'a batch larger than maxBatchSize',
    send: Array.from({ length: 6 }, (_, i) => ({ id: 10 + i, method: 'query', params: { path: 'hello' } })),
    code: 'BAD_REQUEST',
    id: 10,
    message: /Batch of 6 exceeds maxBatchSize 5/,
  },
  {
    what: 'a subscription to a query',
    send: { id: 7, method: 'subscription', params: { path: 'hello' } },
    code: 'NOT_FOUND',
    id: 7,
    message: /No "subscription"-procedure on path "hello"/,
  },
  {
    what: 'a subscription whose input is not an object',
    send: { id: 8, method: 'subscription', params: { path: 'chat.events', input: 'room-1' } },
    code: 'BAD_REQUEST',
    id: 8,
    message: /chat\.events[^]*expected object, received string/,
  },
];

const limits = { maxSubscriptionsPerConnection: 3, maxBatchSize: 5 };

describe('bad input from server code', () => {
  it('rejects the promise pubsub.publish returns (never throws synchronously), so .catch() sees every refusal', async () => {
    await using srv = await startServer();
    const unknownTopic = srv.pubsub.publish('nope' as 'news', { title: 'x' });
    const badPayload = srv.pubsub.publish('news', { title: 42 } as never);
    const missingKey = (srv.pubsub.publish as (topic: string, payload: unknown) => Promise<unknown>)('chat', { user: 'ann', text: 'hi' });
    await expect(unknownTopic).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(badPayload).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(missingKey).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('bad input through the stock client', () => {
  for (const { what, code, message, call } of stockCases) {
    it(`refuses ${what} with ${code}, and the connection and other clients carry on`, async () => {
      await using srv = await startServer({ server: limits });
      const observer = await startObserver(srv);
      const client = stockClient(srv.url);

      const error = await call(client.trpc);

      expect(error.data?.code).toBe(code);
      expect(error.message).toMatch(message);
      expect(await client.trpc.hello.query()).toBe('world');
      await observer.stillReceives('after the refusal');
      expect(srv.connections).toHaveLength(2);
    });
  }
});

describe('bad frames on the wire', () => {
  for (const { what, before = [], send, code, id, message } of rawCases) {
    it(`answers ${what} with ${code}, and the connection and other clients carry on`, async () => {
      await using srv = await startServer({ server: limits });
      const observer = await startObserver(srv);
      const raw = await rawClient(srv.url);
      for (const step of before) {
        raw.send(step.frame);
        await raw.waitForMessage(step.awaits);
      }

      raw.send(send);

      const answer = await raw.waitForMessage(reply(id, 'error'));
      expect(answer).toMatchObject({ id, error: { data: { code } } });
      expect((answer as { error: { message: string } }).error.message).toMatch(message);
      raw.send({ id: 'follow-up', method: 'query', params: { path: 'hello' } });
      expect(await raw.waitForMessage(reply('follow-up'))).toEqual({ id: 'follow-up', result: { type: 'data', data: 'world' } });
      await observer.stillReceives('after the bad frame');
      expect(srv.connections).toHaveLength(2);
      expect(srv.server.connectionCount).toBe(2);
    });
  }
});

describe('frames ws refuses', () => {
  it('closes a sender of invalid UTF-8 with 1007, reports 1007 to onDisconnect, and leaves other clients alone', async () => {
    await using srv = await startServer();
    const observer = await startObserver(srv);
    const raw = await rawClient(srv.url);

    raw.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }); // "{", two bytes that are never UTF-8, "}"

    expect((await raw.waitForClose()).code).toBe(1007);
    await vi.waitFor(() => expect(srv.disconnects.map(({ code }) => code)).toEqual([1007]));
    await observer.stillReceives('after the bad frame');
    expect(srv.server.connectionCount).toBe(1);
  });
});

describe('frames over maxMessageBytes', () => {
  it('closes the sender with 1009 and leaves other clients alone', async () => {
    await using srv = await startServer({ server: { maxMessageBytes: 1024 } });
    const observer = await startObserver(srv);
    const raw = await rawClient(srv.url);
    await raw.subscribe(1, 'news.events');

    raw.send({ id: 2, method: 'mutation', params: { path: 'news.publish', input: { data: { title: 'x'.repeat(2000) } } } });

    expect((await raw.waitForClose()).code).toBe(1009);
    await vi.waitFor(() => expect(srv.disconnects.map(({ code }) => code)).toEqual([1009]));
    await observer.stillReceives('after the big frame');
    expect(srv.server.connectionCount).toBe(1);
    expect(srv.pubsub.health().subscriptions).toBe(1);
  });

  it('fails the stock client call that was too big; the client reconnects and carries on', async () => {
    await using srv = await startServer({ server: { maxMessageBytes: 1024 } });
    const closeCodes: (number | undefined)[] = [];
    const client = stockClient(srv.url, { onClose: (cause) => closeCodes.push(cause?.code) });
    const news = listen(client.trpc.news.events, undefined);
    await news.started;

    const error = await refusal(client.trpc.news.publish.mutate({ data: { title: 'x'.repeat(2000) } }));

    expect(error).toBeInstanceOf(TRPCClientError);
    expect(closeCodes).toEqual([1009]);
    await vi.waitFor(() => {
      expect(srv.connections).toHaveLength(2);
      expect(srv.pubsub.health().subscriptions).toBe(1);
    });
    expect(await client.trpc.news.publish.mutate({ data: { title: 'small' } })).toEqual({ id: expect.any(String) });
    expect((await news.data.next()).data.payload.title).toBe('small');
    await news.data.nothing();
  });
});

describe('after refusals', () => {
  it('leaves no subscription, channel or frame prefix behind once the clients leave', async () => {
    await using srv = await startServer({ server: limits });
    const client = stockClient(srv.url);
    for (const { call } of stockCases) await call(client.trpc);
    const raw = await rawClient(srv.url);
    for (const { before = [], send } of rawCases) {
      for (const step of before) raw.send(step.frame);
      raw.send(send);
      raw.send({ id: 1, method: 'subscription.stop' });
      raw.send({ id: 2, method: 'subscription.stop' });
      raw.send({ id: 3, method: 'subscription.stop' });
    }
    raw.send({ id: 'last', method: 'query', params: { path: 'hello' } });
    await raw.waitForMessage(reply('last'));

    await raw.close();
    await client.close();

    await expectIdle(srv);
  });
});

// PROTOCOL §2: string keys are 1–256 characters (`MAX_KEY_LENGTH`), whatever the topic's key schema says.
// The `chat` topic's schema, `z.string().min(1)`, has no upper bound: only the protocol limit can refuse a long key.
describe('channel keys over the protocol limit (256 characters)', () => {
  const longest = 'k'.repeat(256);
  const tooLong = 'k'.repeat(257);

  it('refuses a subscription with a 257-character key with BAD_REQUEST, holding nothing, and the connection carries on', async () => {
    await using srv = await startServer();
    const observer = await startObserver(srv);
    const client = stockClient(srv.url);

    const error = await subscriptionRefusal(listen(client.trpc.chat.events, { key: tooLong }));

    expect(error.data?.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/chat/);
    expect(srv.pubsub.health().subscriptions).toBe(1);
    expect(await client.trpc.hello.query()).toBe('world');
    await observer.stillReceives('after the long key');
  });

  it('refuses a publish with a 257-character key through the router with BAD_REQUEST, delivering nothing', async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url);
    const everyRoom = listen(client.trpc.chat.events, undefined);
    await everyRoom.started;

    const error = await refusal(client.trpc.chat.publish.mutate({ key: tooLong, data: hi }));

    expect(error.data?.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/chat/);
    await everyRoom.data.nothing();
    await expect(srv.router.createCaller({}).chat.publish({ key: tooLong, data: hi })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await everyRoom.data.nothing();
  });

  it('refuses a 257-character key in pubsub.publish and pubsub.subscribe with a BAD_REQUEST TRPCError', async () => {
    await using srv = await startServer();
    const everyRoom = new Inbox<unknown>();
    using _everyRoom = srv.pubsub.subscribe('chat', everyRoom.push);

    // Either way a caller may see it: thrown at the call (as other validation errors are today) or as a rejection.
    const published = await (async () => srv.pubsub.publish('chat', hi, { key: tooLong }))().then(
      (event) => ({ event }),
      (error: unknown) => ({ error }),
    );
    expect(published).toEqual({ error: expect.any(TRPCError) });
    expect(published).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    await everyRoom.nothing();

    expect(() => srv.pubsub.subscribe('chat', { key: tooLong }, () => undefined)).toThrow(TRPCError);
    expect(() => srv.pubsub.subscribe('chat', { key: tooLong }, () => undefined)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => srv.pubsub.events('chat', { key: tooLong })).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(srv.pubsub.health().subscriptions).toBe(1);
  });

  it('accepts a 256-character key everywhere: subscribed, published and delivered', async () => {
    await using srv = await startServer();
    const client = stockClient(srv.url);
    const room = listen(client.trpc.chat.events, { key: longest });
    await room.started;
    const onServer = new Inbox<string>();
    using _onServer = srv.pubsub.subscribe('chat', { key: longest }, (event) => onServer.push(event.payload.text));

    const viaRouter = await client.trpc.chat.publish.mutate({ key: longest, data: { user: 'ann', text: 'via the router' } });
    const viaServer = await srv.pubsub.publish('chat', { user: 'ann', text: 'from the server' }, { key: longest });

    expect(await room.data.take(2)).toEqual([
      { id: viaRouter.id, data: expect.objectContaining({ key: longest, payload: { user: 'ann', text: 'via the router' } }) },
      { id: viaServer.id, data: expect.objectContaining({ key: longest, payload: { user: 'ann', text: 'from the server' } }) },
    ]);
    expect(await onServer.take(2)).toEqual(['via the router', 'from the server']);
    await room.data.nothing();
  });
});
