// @vitest-environment happy-dom
/**
 * `trpc-pubsub/react` against the real test server: useTopic's status and
 * bounded events through start, history, reconnect and resume, gaps and
 * refusals; exact teardown on unmount, on changed inputs and under
 * StrictMode; usePublish.
 */
import { renderHook, type RenderHookResult } from '@testing-library/react';
import { createElement, StrictMode, type ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PubSubClient } from '../../client/index.js';
import { PubSubProvider, useConnectionStatus, usePublish, usePubSubClient, useTopic, type TopicStatus } from '../../client/react.js';
import { adminOnlySecret, type TestRouter } from '../fixtures/app.js';
import { pubsubClient } from '../fixtures/clients.js';
import { deferred } from '../fixtures/inbox.js';
import { leave } from '../fixtures/leftovers.js';
import { expectIdle, startServer, type TestServer } from '../fixtures/server.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import './register.js';

afterEach(() => void vi.restoreAllMocks());

/** Waits until `assertion` passes (React renders on its own schedule). */
const until = (assertion: () => void) => vi.waitFor(assertion, { timeout: 5000, interval: 5 });

/** Publishes a chat line from server code. */
const say = (srv: TestServer, key: string, text: string) => srv.pubsub.publish('chat', { user: 'ann', text }, { key });

const texts = (events: readonly { payload: { text: string } }[]) => events.map((event) => event.payload.text);

/** The rendered hook, every status it rendered (repeats folded), and an unmount safe to call twice. */
interface Mounted<TResult, TProps> {
  result: RenderHookResult<TResult, TProps>['result'];
  rerender(props: TProps): void;
  statuses(): TopicStatus[];
  unmount(): Promise<void>;
}

/**
 * Renders `hook` under a PubSubProvider for `client`, optionally in
 * StrictMode; unmounted after the test.
 */
function mount<TResult extends object, TProps = undefined>(
  client: PubSubClient<TestRouter>,
  hook: (props: TProps) => TResult,
  options: { initialProps?: TProps; strict?: boolean } = {},
): Mounted<TResult, TProps> {
  const rendered: TopicStatus[] = [];
  const wrapper = ({ children }: { children: ReactNode }) => {
    const provider = createElement(PubSubProvider, { client }, children);
    return options.strict === true ? createElement(StrictMode, null, provider) : provider;
  };
  const { result, rerender, unmount } = renderHook(
    (props: TProps) => {
      const value = hook(props);
      const status = (value as { status?: TopicStatus }).status;
      if (status !== undefined && rendered.at(-1) !== status) rendered.push(status);
      return value;
    },
    { wrapper, ...(options.initialProps === undefined ? {} : { initialProps: options.initialProps }) },
  );
  return { result, rerender: (props) => rerender(props as TProps & {}), statuses: () => [...rendered], unmount: leave(() => unmount()) };
}

/** Status listeners the hooks hold on `client` (through `watchStatus`), not removed yet. */
function trackStatusWatchers(client: PubSubClient<TestRouter>): { running(): number } {
  let running = 0;
  const watch = client.watchStatus.bind(client);
  vi.spyOn(client, 'watchStatus').mockImplementation((listener) => {
    running++;
    const unwatch = watch(listener);
    return () => {
      running--;
      unwatch();
    };
  });
  return { running: () => running };
}

describe('useTopic', () => {
  it('is connecting until the server confirmed the subscription, then live, and keeps the newest `limit` events, oldest first', async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    const heard: string[] = [];
    const room = mount(client, () => useTopic('chat', { key: 'room-1', limit: 2, onEvent: (event) => heard.push(event.payload.text) }));
    expect(room.result.current).toMatchObject({ status: 'connecting', events: [], lastEvent: undefined, gap: undefined, error: undefined });

    await until(() => expect(room.result.current.status).toBe('live'));
    for (const text of ['one', 'two', 'three']) await say(srv, 'room-1', text);

    await until(() => expect(texts(room.result.current.events)).toEqual(['two', 'three']));
    expect(room.result.current.lastEvent).toEqual({
      id: expect.any(String),
      kind: 'event',
      topic: 'chat',
      key: 'room-1',
      payload: { user: 'ann', text: 'three' },
      ts: expect.any(Number),
    });
    expect(heard).toEqual(['one', 'two', 'three']);
    expect(room.statuses()).toEqual(['connecting', 'live']);
  });

  it('starts with the newest `history` events of the channel, oldest first, then live ones', async () => {
    await using srv = await startServer();
    for (const text of ['a', 'b', 'c', 'd', 'e']) await say(srv, 'room-1', text);
    await say(srv, 'room-2', 'elsewhere');
    const client = pubsubClient(srv.url);

    const room = mount(client, () => useTopic('chat', { key: 'room-1', history: 3 }));

    await until(() => expect(texts(room.result.current.events)).toEqual(['c', 'd', 'e']));
    expect(room.result.current.status).toBe('live');
    await say(srv, 'room-1', 'f');
    await until(() => expect(texts(room.result.current.events)).toEqual(['c', 'd', 'e', 'f']));
  });

  it('says reconnecting while the connection is down, then live, with what was published meanwhile exactly once, in order', async () => {
    await using srv = await startServer();
    await using proxy = await TcpProxy.start(Number(new URL(srv.httpUrl).port));
    const client = pubsubClient(srv.url.replace(`:${proxy.target}/`, `:${proxy.port}/`));
    const room = mount(client, () => ({ ...useTopic('chat', { key: 'room-1' }), connection: useConnectionStatus() }));
    await until(() => expect(room.result.current.status).toBe('live'));
    await say(srv, 'room-1', 'before');
    await until(() => expect(texts(room.result.current.events)).toEqual(['before']));

    // The server drops the socket; the proxy keeps the client's next attempts from opening until released.
    proxy.hold({ newConnections: true });
    srv.connections[0]?.socket.terminate();
    await until(() => expect(room.result.current).toMatchObject({ status: 'reconnecting', connection: 'reconnecting' }));
    await say(srv, 'room-1', 'while away 1');
    await say(srv, 'room-1', 'while away 2');
    proxy.release();

    await until(() => expect(texts(room.result.current.events)).toEqual(['before', 'while away 1', 'while away 2']));
    await until(() => expect(room.result.current).toMatchObject({ status: 'live', connection: 'open' }));
    await say(srv, 'room-1', 'after');
    await until(() => expect(texts(room.result.current.events)).toEqual(['before', 'while away 1', 'while away 2', 'after']));
    expect(room.result.current.gap).toBeUndefined();
    expect(room.statuses()).toEqual(['connecting', 'live', 'reconnecting', 'live']);
  });

  it('says gap, with the signal, when a topic without history resumes after a drop, and live again on the next event while keeping the gap', async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    const gaps: string[] = [];
    const news = mount(client, () => useTopic('news', { onGap: (gap) => gaps.push(gap.reason) }));
    await until(() => expect(news.result.current.status).toBe('live'));
    const first = await srv.pubsub.publish('news', { title: 'first' });
    await until(() => expect(news.result.current.lastEvent?.id).toBe(first.id));

    srv.connections[0]?.socket.terminate();

    await until(() => expect(news.result.current.status).toBe('gap'));
    expect(news.result.current.gap).toEqual({ kind: 'gap', topic: 'news', reason: 'unsupported', after: first.id, ts: expect.any(Number) });
    expect(gaps).toEqual(['unsupported']);
    await srv.pubsub.publish('news', { title: 'next' });
    await until(() => expect(news.result.current.lastEvent?.payload.title).toBe('next'));
    expect(news.result.current.status).toBe('live');
    expect(news.result.current.gap).toMatchObject({ reason: 'unsupported' });
    // The reconnect takes a few milliseconds here: `reconnecting` may or may not have rendered in between.
    expect(news.statuses().join(' ')).toMatch(/^connecting live (reconnecting (live )?)?gap live$/);
  });

  it('says error, with the TRPCClientError, when the server refuses the subscription', async () => {
    await using srv = await startServer({ pubsub: { authorize: adminOnlySecret } });
    const client = pubsubClient(srv.url, { onSubscriptionError: () => undefined });

    const secret = mount(client, () => useTopic('secret'));

    await until(() => expect(secret.result.current.status).toBe('error'));
    expect(secret.result.current.error).toMatchObject({ name: 'TRPCClientError', data: { code: 'FORBIDDEN' } });
    expect(srv.pubsub.health().subscriptions).toBe(0);
  });

  it('is idle and does not subscribe while not enabled, and subscribes once enabled', async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    await client.ready();

    const room = mount(client, ({ enabled }: { enabled: boolean }) => useTopic('chat', { key: 'room-1', enabled }), { initialProps: { enabled: false } });

    expect(room.result.current.status).toBe('idle');
    expect(srv.pubsub.health().subscriptions).toBe(0);
    room.rerender({ enabled: true });
    await until(() => expect(room.result.current.status).toBe('live'));
    expect(srv.pubsub.health().subscriptions).toBe(1);
  });

  it('unsubscribes on unmount: the server goes idle and no status listener is left on the client', async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    const watchers = trackStatusWatchers(client);
    const room = mount(client, () => useTopic('chat', { key: 'room-1' }));
    await until(() => expect(room.result.current.status).toBe('live'));
    expect(watchers.running()).toBe(1);

    await room.unmount();

    await expectIdle(srv, { connections: 1 });
    expect(watchers.running()).toBe(0);
  });

  it('re-subscribes when the key changes: the old channel is gone and the new one starts empty', async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    const room = mount(client, ({ key }: { key: string }) => useTopic('chat', { key }), { initialProps: { key: 'room-1' } });
    await until(() => expect(room.result.current.status).toBe('live'));
    await say(srv, 'room-1', 'in room 1');
    await until(() => expect(texts(room.result.current.events)).toEqual(['in room 1']));

    room.rerender({ key: 'room-2' });

    expect(room.result.current).toMatchObject({ status: 'connecting', events: [], lastEvent: undefined });
    await until(() => expect(room.result.current.status).toBe('live'));
    expect(srv.pubsub.health()).toMatchObject({ subscriptions: 1, channels: 1 });
    await say(srv, 'room-1', 'unheard');
    await say(srv, 'room-2', 'in room 2');
    await until(() => expect(texts(room.result.current.events)).toEqual(['in room 2']));
  });

  it('holds one subscription under StrictMode, delivers each event once, and leaves the server idle on unmount', async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    const heard: string[] = [];
    const room = mount(client, () => useTopic('chat', { key: 'room-1', onEvent: (event) => heard.push(event.payload.text) }), { strict: true });
    await until(() => expect(room.result.current.status).toBe('live'));
    await until(() => expect(srv.pubsub.health().subscriptions).toBe(1));

    await say(srv, 'room-1', 'once');
    await say(srv, 'room-1', 'twice?');

    await until(() => expect(texts(room.result.current.events)).toEqual(['once', 'twice?']));
    expect(heard).toEqual(['once', 'twice?']);
    await room.unmount();
    await expectIdle(srv, { connections: 1 });
  });
});

describe('usePublish', () => {
  it('publishes with the pending state, resolves with the event id, and reports a refusal in `error` without rejecting', async () => {
    const answer = deferred();
    await using srv = await startServer({
      pubsub: {
        // Chat publishes wait for the test to let them through; `secret` is for admin only.
        authorize: async (request) => {
          if (request.action === 'publish' && request.topic === 'chat') await answer.promise;
          return adminOnlySecret(request);
        },
      },
    });
    const client = pubsubClient(srv.url);
    const chat = mount(client, () => ({ room: useTopic('chat', { key: 'room-1' }), send: usePublish('chat'), leak: usePublish('secret') }));
    await until(() => expect(chat.result.current.room.status).toBe('live'));

    const sent = chat.result.current.send.publish({ user: 'ann', text: 'hi' }, { key: 'room-1' });
    await until(() => expect(chat.result.current.send.pending).toBe(true));
    answer.resolve();
    const published = await sent;

    expect(published).toEqual({ id: expect.any(String) });
    await until(() => expect(chat.result.current.room.lastEvent).toMatchObject({ id: published?.id, payload: { text: 'hi' } }));
    await until(() => expect(chat.result.current.send).toMatchObject({ pending: false, error: undefined }));
    await expect(chat.result.current.leak.publish({ code: '1234' })).resolves.toBeUndefined();
    await until(() => expect(chat.result.current.leak.error).toMatchObject({ name: 'TRPCClientError', data: { code: 'FORBIDDEN' } }));
    expect(chat.result.current.leak.pending).toBe(false);
  });
});

describe('usePubSubClient', () => {
  it('returns the provided client, and says what is missing outside a provider', async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    vi.spyOn(console, 'error').mockImplementation(() => undefined);

    expect(mount(client, () => ({ client: usePubSubClient() })).result.current.client).toBe(client);
    expect(() => renderHook(() => usePubSubClient())).toThrow('usePubSubClient() needs a <PubSubProvider client={…}> above the component');
  });
});
