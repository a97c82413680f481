/**
 * Who may subscribe and publish: the `authorize` option (with the context
 * createContext built from connectionParams), the app's own middleware on
 * the base procedure, and the subscribe/unsubscribe hooks.
 */
import { TRPCError } from '@trpc/server';
import type { AuthorizeRequest, SubscriptionInfo } from 'trpc-pubsub';
import { describe, expect, it, vi } from 'vitest';
import { adminOnlySecret, t, topics, type TestContext } from '../fixtures/app.js';
import { listen, stockClient } from '../fixtures/clients.js';
import { Inbox } from '../fixtures/inbox.js';
import { buggyRecorder, expectIdle, recordingLogger, startServer } from '../fixtures/server.js';

/** The app's own auth middleware: no user, no entry. */
const signedIn = t.procedure.use(({ ctx, next }) => {
  if (ctx.user === undefined) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
  return next({ ctx: { user: ctx.user } });
});

describe('authorize', () => {
  it('refuses a restricted subscription with FORBIDDEN and delivers nothing on it', async () => {
    await using srv = await startServer({ pubsub: { authorize: adminOnlySecret } });
    const guest = stockClient(srv.url, { user: 'guest' });
    const admin = stockClient(srv.url, { user: 'admin' });

    const refused = listen(guest.trpc.secret.events, undefined);
    const allowed = listen(admin.trpc.secret.events, undefined);

    const error = await refused.error;
    expect(error.data?.code).toBe('FORBIDDEN');
    expect(error.message).toMatch(/Not allowed to subscribe on secret/);
    await allowed.started;
    await srv.pubsub.publish('secret', { code: '1234' });
    expect((await allowed.data.next()).data.payload).toEqual({ code: '1234' });
    await refused.data.nothing();
    expect(srv.pubsub.health().subscriptions).toBe(1);
  });

  it('refuses a restricted publish with FORBIDDEN while a permitted one goes through', async () => {
    await using srv = await startServer({ pubsub: { authorize: adminOnlySecret } });
    const guest = stockClient(srv.url, { user: 'guest' });
    const admin = stockClient(srv.url, { user: 'admin' });
    const secrets = listen(admin.trpc.secret.events, undefined);
    const news = listen(admin.trpc.news.events, undefined);
    await Promise.all([secrets.started, news.started]);

    await expect(guest.trpc.secret.publish.mutate({ data: { code: 'forged' } })).rejects.toMatchObject({
      data: { code: 'FORBIDDEN' },
      message: expect.stringMatching(/Not allowed to publish on secret/),
    });
    const permitted = await guest.trpc.news.publish.mutate({ data: { title: 'open to all' } });
    const byAdmin = await admin.trpc.secret.publish.mutate({ data: { code: 'real' } });

    expect((await news.data.next()).id).toBe(permitted.id);
    expect(await secrets.data.next()).toMatchObject({ id: byAdmin.id, data: { payload: { code: 'real' } } });
    await secrets.data.nothing();
  });

  it('asks with the context from connectionParams, the topic, key, action and payload', async () => {
    const requests: AuthorizeRequest<TestContext>[] = [];
    await using srv = await startServer({ pubsub: { authorize: (request) => (requests.push(request), true) } });
    const client = stockClient(srv.url, { user: 'ann' });

    await listen(client.trpc.chat.events, { key: 'room-1' }).started;
    await listen(client.trpc.chat.events, undefined).started;
    await listen(client.trpc.allTopics.events, undefined).started;
    await client.trpc.chat.publish.mutate({ key: 'room-2', data: { user: 'ann', text: 'hi' } });

    expect(requests).toEqual([
      { ctx: { user: 'ann' }, topic: 'chat', key: 'room-1', action: 'subscribe' },
      { ctx: { user: 'ann' }, topic: 'chat', key: undefined, action: 'subscribe' },
      // an all-topics subscription asks once per declared topic, for every key
      ...Object.keys(topics).map((topic) => ({ ctx: { user: 'ann' }, topic, key: undefined, action: 'subscribe' })),
      { ctx: { user: 'ann' }, topic: 'chat', key: 'room-2', action: 'publish', payload: { user: 'ann', text: 'hi' } },
    ]);
  });

  it('refuses with the code of a TRPCError authorize throws, and with INTERNAL_SERVER_ERROR (logged) for any other throw', async () => {
    const { records, logger } = recordingLogger();
    await using srv = await startServer({
      pubsub: {
        logger,
        authorize: ({ topic }) => {
          if (topic === 'news') throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Token expired' });
          if (topic === 'tick') throw new Error('auth backend down');
          return true;
        },
      },
    });
    const client = stockClient(srv.url);

    expect((await listen(client.trpc.news.events, undefined).error).data?.code).toBe('UNAUTHORIZED');
    await expect(client.trpc.tick.publish.mutate()).rejects.toMatchObject({ data: { code: 'INTERNAL_SERVER_ERROR' }, message: 'Authorization failed' });
    await expect(client.trpc.audit.publish.mutate({ data: { line: 'fine' } })).resolves.toEqual({ id: expect.any(String) });
    expect(records.filter(({ level }) => level === 'error')).toEqual([
      { level: 'error', message: 'authorize hook threw', fields: { topic: 'tick', action: 'publish', error: 'Error: auth backend down' } },
    ]);
  });

  // `authorize` is asked once per declared topic for an all-topics
  // subscription, which then receives only the allowed topics.
  it('does not leak a restricted topic through an all-topics subscription', async () => {
    await using srv = await startServer({ pubsub: { authorize: adminOnlySecret } });
    const guest = stockClient(srv.url, { user: 'guest' });
    const everything = listen(guest.trpc.allTopics.events, undefined);
    await everything.started;

    await srv.pubsub.publish('secret', { code: '1234' });
    const news = await srv.pubsub.publish('news', { title: 'public' });

    // Some topic keeps history, so the tracked id is the all-topics cursor and the event's id is in its data.
    expect(await everything.data.next()).toMatchObject({ id: expect.stringMatching(/^t\./), data: { id: news.id, topic: 'news' } });
    await everything.data.nothing();
  });

  it('does not leak a restricted topic to an all-topics subscription that server code iterates through createCaller', async () => {
    await using srv = await startServer({ pubsub: { authorize: adminOnlySecret } });
    const abort = new AbortController();
    const asGuest = srv.router.createCaller({ user: 'guest' }, { signal: abort.signal });
    const everything = (await asGuest.allTopics.events())[Symbol.asyncIterator]();
    await vi.waitFor(() => expect(srv.pubsub.health().subscriptions).toBe(1));

    await srv.pubsub.publish('secret', { code: '1234' });
    const news = await srv.pubsub.publish('news', { title: 'public' });

    // A caller receives tRPC's tracked envelope, `[id, event]` (wsLink clients get `{ id, data }`).
    const [id, event] = (await everything.next()).value as unknown as [string, { topic: string }];
    expect(id).toMatch(/^t\./);
    expect(event).toMatchObject({ id: news.id, topic: 'news' });
    abort.abort();
    await everything.return?.();
    await expectIdle(srv);
  });
});

describe("the app's middleware", () => {
  it('runs before every topic subscription and publish over WebSockets', async () => {
    await using srv = await startServer({ procedure: signedIn });
    const anonymous = stockClient(srv.url);
    const ann = stockClient(srv.url, { user: 'ann' });

    expect((await listen(anonymous.trpc.news.events, undefined).error).data?.code).toBe('UNAUTHORIZED');
    await expect(anonymous.trpc.news.publish.mutate({ data: { title: 'x' } })).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' }, message: 'Sign in first' });
    const news = listen(ann.trpc.news.events, undefined);
    await news.started;
    const { id } = await ann.trpc.news.publish.mutate({ data: { title: 'signed' } });
    expect((await news.data.next()).id).toBe(id);
    expect(await anonymous.trpc.hello.query()).toBe('world');
  });

  it('runs, with validation and authorize, when server code publishes through createCaller', async () => {
    await using srv = await startServer({ procedure: signedIn, pubsub: { authorize: adminOnlySecret } });
    const client = stockClient(srv.url, { user: 'admin' });
    const all = listen(client.trpc.allTopics.events, undefined);
    await all.started;
    const asAnn = srv.router.createCaller({ user: 'ann' });
    const anonymous = srv.router.createCaller({});

    await expect(asAnn.news.publish({ data: { title: 42 as unknown as string } })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/news\.publish[^]*data\.title/),
    });
    await expect(anonymous.news.publish({ data: { title: 'x' } })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(asAnn.secret.publish({ data: { code: 'x' } })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const published = await asAnn.chat.publish({ key: 'room-1', data: { user: 'ann', text: 'via caller' } });

    const event = await all.data.next();
    expect(event).toMatchObject({ data: { id: published.id, topic: 'chat', key: 'room-1', payload: { user: 'ann', text: 'via caller' } } });
    await all.data.nothing();
  });
});

describe('subscription hooks', () => {
  it('fire onSubscribe and onUnsubscribe with scope, origin and context, for clients and server code', async () => {
    const subscribed = new Inbox<SubscriptionInfo>();
    const unsubscribed = new Inbox<SubscriptionInfo>();
    await using srv = await startServer({ pubsub: { onSubscribe: subscribed.push, onUnsubscribe: unsubscribed.push } });
    const client = stockClient(srv.url, { user: 'ann' });

    const room = listen(client.trpc.chat.events, { key: 'room-1' });
    await room.started;
    const everyRoom = listen(client.trpc.chat.events, undefined);
    await everyRoom.started;
    const all = listen(client.trpc.allTopics.events, undefined);
    await all.started;
    const stop = srv.pubsub.subscribe('tick', () => undefined);

    const ctx = { user: 'ann' };
    expect(await subscribed.take(4)).toEqual([
      { scope: { kind: 'channel', topic: 'chat', key: 'room-1' }, origin: 'websocket', ctx },
      { scope: { kind: 'topic', topic: 'chat' }, origin: 'websocket', ctx },
      { scope: { kind: 'all' }, origin: 'websocket', ctx },
      { scope: { kind: 'channel', topic: 'tick', key: undefined }, origin: 'server' },
    ]);
    await unsubscribed.nothing(0);

    room.unsubscribe();
    expect(await unsubscribed.next()).toEqual(subscribed.items[0]);
    stop();
    expect(await unsubscribed.next()).toEqual(subscribed.items[3]);
    await client.close();
    expect(await unsubscribed.take(2)).toEqual(expect.arrayContaining([subscribed.items[1], subscribed.items[2]]));
    await expectIdle(srv);
  });

  it('keep delivering when a hook throws, after calling each once and logging what it threw', async () => {
    const onSubscribe = buggyRecorder<SubscriptionInfo>();
    const onUnsubscribe = buggyRecorder<SubscriptionInfo>();
    const { records, logger } = recordingLogger();
    await using srv = await startServer({ pubsub: { onSubscribe: onSubscribe.hook, onUnsubscribe: onUnsubscribe.hook, logger } });
    const client = stockClient(srv.url, { user: 'ann' });
    const news = listen(client.trpc.news.events, undefined);
    await news.started;
    const subscribed = { scope: { kind: 'channel', topic: 'news', key: undefined }, origin: 'websocket', ctx: { user: 'ann' } };
    expect(onSubscribe.calls).toEqual([subscribed]);

    await srv.pubsub.publish('news', { title: 'despite the hook' });

    expect((await news.data.next()).data.payload.title).toBe('despite the hook');
    expect(onUnsubscribe.calls).toEqual([]);
    news.unsubscribe();
    await vi.waitFor(() => expect(onUnsubscribe.calls).toEqual([subscribed]));
    await client.close();
    await expectIdle(srv);
    expect(onSubscribe.calls).toHaveLength(1);
    expect(onUnsubscribe.calls).toHaveLength(1);
    expect(records.filter(({ level }) => level === 'error')).toEqual([
      { level: 'error', message: 'onSubscribe hook threw', fields: { error: 'Error: hook bug' } },
      { level: 'error', message: 'onUnsubscribe hook threw', fields: { error: 'Error: hook bug' } },
    ]);
  });
});
