// @vitest-environment happy-dom
/**
 * tRPC's own React integration, `@trpc/tanstack-react-query` 11.22.1, on the
 * topic router of the real test server: `useSubscription(trpc.<topic>.events
 * .subscriptionOptions(…))` gets typed events in order, history, gap signals
 * and resume across a dropped socket; `useMutation(trpc.<topic>.publish
 * .mutationOptions())` publishes; disabled subscriptions send nothing;
 * unmount leaves server and client idle; `trpc-pubsub/react`'s `useTopic`
 * shares one connection with it.
 */
import { QueryClient, QueryClientProvider, skipToken, useMutation } from '@tanstack/react-query';
import { renderHook, type RenderHookResult } from '@testing-library/react';
import { createTRPCClient, createWSClient, wsLink, type TRPCClient, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { createTRPCContext, useSubscription } from '@trpc/tanstack-react-query';
import { createElement, StrictMode, useState, type ReactNode } from 'react';
import type { GapSignal, PubSubClient } from 'trpc-pubsub/client';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
// vitest.config.ts has no alias for `trpc-pubsub/react` (yet): import it by path, as use-topic.test.ts does.
import { PubSubProvider, useTopic } from '../../client/react.js';
import { adminOnlySecret, type TestRouter } from '../fixtures/app.js';
import { pubsubClient } from '../fixtures/clients.js';
import { Inbox } from '../fixtures/inbox.js';
import { leave } from '../fixtures/leftovers.js';
import { expectIdle, startServer, type TestServer } from '../fixtures/server.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import './register.js';

/** What the app writes once: tRPC's React context for its router. */
const { TRPCProvider, useTRPC } = createTRPCContext<TestRouter>();

/** What `onData` of a `chat.events` subscription receives: tRPC's tracked `{ id, data }`, `data` an event or a gap signal. */
type ChatItem = NonNullable<ReturnType<typeof useChatEvents>['data']>;

/** `useSubscription` on one chat room, with the subscription input and options it is given. */
function useChatEvents(input: Parameters<ReturnType<typeof useTRPC>['chat']['events']['subscriptionOptions']>[0], onData?: (item: ChatItem) => void) {
  const trpc = useTRPC();
  // `ChatItem` is inferred from this very call: `onData` is typed through `subscriptionOptions`.
  return useSubscription(trpc.chat.events.subscriptionOptions(input, onData === undefined ? {} : { onData: (item) => onData(item) }));
}

/** Waits until `assertion` passes (React renders on its own schedule). */
const until = (assertion: () => void) => vi.waitFor(assertion, { timeout: 5000, interval: 5 });

/** Publishes a chat line from server code. */
const say = (srv: TestServer, key: string, text: string) => srv.pubsub.publish('chat', { user: 'ann', text }, { key });

/** The text of an event, or `gap:<reason>` for a gap signal. */
const line = ({ data }: ChatItem): string => (data.kind === 'event' ? data.payload.text : `gap:${data.reason}`);

/** Counts the subscription operations in flight through a tRPC client: started and not torn down yet. */
function countSubscriptions(counter: { running: number }): TRPCLink<TestRouter> {
  return () =>
    ({ op, next }) => {
      if (op.type !== 'subscription') return next(op);
      return observable((observer) => {
        counter.running++;
        const subscription = next(op).subscribe(observer);
        return () => {
          counter.running--;
          subscription.unsubscribe();
        };
      });
    };
}

/** A stock tRPC client on `wsLink` (reconnecting after 10 ms), with a count of its subscriptions in flight; closed after the test. */
function tanstackClient(url: string): { trpcClient: TRPCClient<TestRouter>; inFlight: { running: number } } {
  const inFlight = { running: 0 };
  const wsClient = createWSClient({ url, WebSocket: WebSocket as never, retryDelayMs: () => 10 });
  const trpcClient = createTRPCClient<TestRouter>({ links: [countSubscriptions(inFlight), wsLink({ client: wsClient })] });
  leave(() => wsClient.close());
  return { trpcClient, inFlight };
}

/** The rendered hook, every `status` it rendered (repeats folded), and an unmount safe to call twice. */
interface Mounted<TResult, TProps> {
  result: RenderHookResult<TResult, TProps>['result'];
  rerender(props: TProps): void;
  statuses(): string[];
  unmount(): Promise<void>;
}

/** Options of {@link mount}. */
interface MountOptions<TProps> {
  initialProps?: TProps;
  /** Render under `<StrictMode>`. */
  strict?: boolean;
  /** Also provide this convenience client to `trpc-pubsub/react`'s hooks. */
  pubsub?: PubSubClient<TestRouter>;
}

/**
 * Renders `hook` as an app does: QueryClientProvider, then tRPC's
 * TRPCProvider for `trpcClient` (and a PubSubProvider when asked);
 * unmounted after the test.
 */
function mount<TResult extends object, TProps = undefined>(
  trpcClient: TRPCClient<TestRouter>,
  hook: (props: TProps) => TResult,
  options: MountOptions<TProps> = {},
): Mounted<TResult, TProps> {
  const queryClient = new QueryClient();
  const rendered: string[] = [];
  const wrapper = ({ children }: { children: ReactNode }) => {
    const inner = options.pubsub === undefined ? children : createElement(PubSubProvider, { client: options.pubsub }, children);
    const tree = createElement(QueryClientProvider, { client: queryClient }, createElement(TRPCProvider, { trpcClient, queryClient, children: inner }));
    return options.strict === true ? createElement(StrictMode, null, tree) : tree;
  };
  const { result, rerender, unmount } = renderHook(
    (props: TProps) => {
      const value = hook(props);
      // Reading `status` here also subscribes this render to it (useSubscription re-renders for the fields read).
      const status = (value as { status?: string }).status;
      if (status !== undefined && rendered.at(-1) !== status) rendered.push(status);
      return value;
    },
    { wrapper, ...(options.initialProps === undefined ? {} : { initialProps: options.initialProps }) },
  );
  const close = leave(() => {
    unmount();
    queryClient.clear();
  });
  return { result, rerender: (props) => rerender(props as TProps & {}), statuses: () => [...rendered], unmount: close };
}

describe('useSubscription(trpc.<topic>.events.subscriptionOptions(…))', () => {
  it("receives typed events published server-side, in order; status goes 'connecting' → 'pending' (started) and `data` is the last tracked event", async () => {
    await using srv = await startServer();
    const { trpcClient } = tanstackClient(srv.url);
    const heard = new Inbox<ChatItem>();
    const room = mount(trpcClient, () => useChatEvents({ key: 'r1' }, heard.push));
    expect(room.result.current).toMatchObject({ status: 'connecting', data: undefined, error: null });

    await until(() => expect(room.result.current.status).toBe('pending'));
    const published = [await say(srv, 'r1', 'one'), await say(srv, 'r2', 'elsewhere'), await say(srv, 'r1', 'two'), await say(srv, 'r1', 'three')];

    const items = await heard.take(3);
    expect(items.map(line)).toEqual(['one', 'two', 'three']);
    expect(items.map((item) => item.id)).toEqual([published[0]?.id, published[2]?.id, published[3]?.id]);
    expect(room.result.current.data).toEqual({
      id: published[3]?.id,
      data: { kind: 'event', topic: 'chat', key: 'r1', payload: { user: 'ann', text: 'three' }, ts: expect.any(Number) },
    });
    expect(room.result.current.error).toBeNull();
    await heard.nothing();
    expect(room.statuses()).toEqual(['connecting', 'pending']);
  });

  it('gives a late subscriber the newest `last` events of the room first, oldest first, then live ones', async () => {
    await using srv = await startServer();
    for (const text of ['a', 'b', 'c', 'd', 'e']) await say(srv, 'r1', text);
    await say(srv, 'r2', 'elsewhere');
    const { trpcClient } = tanstackClient(srv.url);
    const heard = new Inbox<ChatItem>();

    const room = mount(trpcClient, () => useChatEvents({ key: 'r1', last: 3 }, heard.push));

    expect((await heard.take(3)).map(line)).toEqual(['c', 'd', 'e']);
    await until(() => expect(room.result.current.status).toBe('pending'));
    await say(srv, 'r1', 'f');
    expect(line(await heard.next())).toBe('f');
    await heard.nothing();
  });

  it('delivers a gap signal as data, which an app tells apart from events by `kind`', async () => {
    await using srv = await startServer();
    await say(srv, 'r1', 'not replayed');
    const { trpcClient } = tanstackClient(srv.url);

    // What an app component does: events to the list, the gap to a notice.
    const room = mount(trpcClient, () => {
      const [lines, setLines] = useState<string[]>([]);
      const [gap, setGap] = useState<GapSignal>();
      // A persisted id from another deployment: the history cannot resume after it.
      const subscription = useChatEvents({ key: 'r1', lastEventId: 'from-elsewhere' }, ({ data }) => {
        if (data.kind === 'gap') setGap(data);
        else setLines((previous) => [...previous, data.payload.text]);
      });
      return { status: subscription.status, data: subscription.data, lines, gap };
    });

    await until(() => expect(room.result.current.gap).toEqual({ kind: 'gap', topic: 'chat', key: 'r1', reason: 'unknown', after: 'from-elsewhere', ts: expect.any(Number) }));
    expect(room.result.current.data).toMatchObject({ id: expect.any(String), data: { kind: 'gap' } });
    await until(() => expect(room.result.current.status).toBe('pending'));
    await say(srv, 'r1', 'live');
    await until(() => expect(room.result.current.lines).toEqual(['live']));
    expect(room.result.current.data).toMatchObject({ data: { kind: 'event', payload: { text: 'live' } } });
  });

  it("says 'error', with the typed code, when the server refuses the subscription, and holds nothing on the server", async () => {
    await using srv = await startServer({ pubsub: { authorize: adminOnlySecret } });
    const { trpcClient, inFlight } = tanstackClient(srv.url);

    const secret = mount(trpcClient, () => useSubscription(useTRPC().secret.events.subscriptionOptions()));

    await until(() => expect(secret.result.current.status).toBe('error'));
    expect(secret.result.current.error).toMatchObject({ name: 'TRPCClientError', data: { code: 'FORBIDDEN' } });
    expect(secret.result.current.data).toBeUndefined();
    expect(srv.pubsub.health().subscriptions).toBe(0);
    await until(() => expect(inFlight.running).toBe(0));
    expect(secret.statuses()).toEqual(['connecting', 'error']);
  });

  it("resumes after the server dropped the socket: 'connecting' while away, then exactly the missed events once, in order, then live", async () => {
    await using srv = await startServer();
    await using proxy = await TcpProxy.start(Number(new URL(srv.httpUrl).port));
    const { trpcClient } = tanstackClient(srv.url.replace(`:${proxy.target}/`, `:${proxy.port}/`));
    const heard = new Inbox<ChatItem>();
    const room = mount(trpcClient, () => useChatEvents({ key: 'r1' }, heard.push));
    await until(() => expect(room.result.current.status).toBe('pending'));
    await say(srv, 'r1', 'before');
    expect(line(await heard.next())).toBe('before');

    // The server drops the socket; the proxy keeps the client's next attempts from opening until released.
    proxy.hold({ newConnections: true });
    srv.connections[0]?.socket.terminate();
    await until(() => expect(room.result.current.status).toBe('connecting'));
    // tRPC says why it is connecting again: the close, as a TRPCClientError (not an `error` status).
    expect(room.result.current.error).toMatchObject({ name: 'TRPCClientError', message: 'WebSocket closed' });
    await say(srv, 'r1', 'while away 1');
    await say(srv, 'r1', 'while away 2');
    proxy.release();

    expect((await heard.take(2)).map(line)).toEqual(['while away 1', 'while away 2']);
    await until(() => expect(room.result.current).toMatchObject({ status: 'pending', error: null }));
    await say(srv, 'r1', 'after');
    expect(line(await heard.next())).toBe('after');
    await heard.nothing();
    expect(heard.items.map(line)).toEqual(['before', 'while away 1', 'while away 2', 'after']);
    expect(new Set(heard.items.map((item) => item.id)).size).toBe(4);
    expect(srv.connections).toHaveLength(2);
    expect(room.statuses()).toEqual(['connecting', 'pending', 'connecting', 'pending']);
  });
});

describe('useMutation(trpc.<topic>.publish.mutationOptions())', () => {
  it('publishes what the subscription then receives, and a refused publish gives the typed BAD_REQUEST', async () => {
    await using srv = await startServer();
    const { trpcClient } = tanstackClient(srv.url);
    const heard = new Inbox<ChatItem>();
    const chat = mount(trpcClient, () => {
      const trpc = useTRPC();
      return { room: useChatEvents({ key: 'r1' }, heard.push), send: useMutation(trpc.chat.publish.mutationOptions()) };
    });
    await until(() => expect(chat.result.current.room.status).toBe('pending'));

    const published = await chat.result.current.send.mutateAsync({ key: 'r1', data: { user: 'ann', text: 'hi' } });

    expect(published).toEqual({ id: expect.any(String) });
    expect(await heard.next()).toMatchObject({ id: published.id, data: { kind: 'event', key: 'r1', payload: { user: 'ann', text: 'hi' } } });
    await until(() => expect(chat.result.current.send).toMatchObject({ status: 'success', data: published }));

    // A key the schema refuses (min 1 character): types accept it, the server does not.
    chat.result.current.send.mutate({ key: '', data: { user: 'ann', text: 'lost' } });
    await until(() => expect(chat.result.current.send.status).toBe('error'));
    expect(chat.result.current.send.error).toMatchObject({ name: 'TRPCClientError', data: { code: 'BAD_REQUEST' } });
    expect(chat.result.current.send.error?.message).toMatch(/chat\.publish/);
    // A payload the types refuse is refused at run time too.
    // @ts-expect-error `text` is missing
    await expect(chat.result.current.send.mutateAsync({ key: 'r1', data: { user: 'ann' } })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    await heard.nothing();
  });
});

describe('disabled subscriptions and teardown', () => {
  it('subscribes nothing while `enabled: false` or the input is `skipToken` (status idle), and subscribes once enabled', async () => {
    // Every subscribe request reaches `authorize`: it is the server-side witness of what the client asked for.
    const asked = new Inbox<string>();
    const authorize = ({ action, key }: { action: string; key?: unknown }) => {
      if (action === 'subscribe') asked.push(String(key));
      return true;
    };
    await using srv = await startServer({ pubsub: { authorize } });
    const { trpcClient } = tanstackClient(srv.url);

    const hooks = mount(
      trpcClient,
      ({ enabled }: { enabled: boolean }) => {
        const trpc = useTRPC();
        return {
          off: useSubscription(trpc.chat.events.subscriptionOptions({ key: 'off' }, { enabled })),
          skipped: useSubscription(trpc.chat.events.subscriptionOptions(enabled ? { key: 'skipped' } : skipToken)),
          // Rendered beside them, so its request proves the client was connected and sending.
          sentinel: useSubscription(trpc.chat.events.subscriptionOptions({ key: 'sentinel' })),
        };
      },
      { initialProps: { enabled: false } },
    );

    expect(await asked.next()).toBe('sentinel');
    await until(() => expect(hooks.result.current.sentinel.status).toBe('pending'));
    await asked.nothing();
    expect(hooks.result.current.off).toMatchObject({ status: 'idle', data: undefined });
    expect(hooks.result.current.skipped).toMatchObject({ status: 'idle', data: undefined });
    expect(srv.pubsub.health().subscriptions).toBe(1);

    hooks.rerender({ enabled: true });

    expect((await asked.take(2)).sort()).toEqual(['off', 'skipped']);
    await until(() => expect([hooks.result.current.off.status, hooks.result.current.skipped.status]).toEqual(['pending', 'pending']));
    expect(srv.pubsub.health().subscriptions).toBe(3);
  });

  it('unsubscribes on unmount: the server has no subscription left and the client no subscription in flight', async () => {
    await using srv = await startServer();
    const { trpcClient, inFlight } = tanstackClient(srv.url);
    const rooms = mount(trpcClient, () => ({ one: useChatEvents({ key: 'r1' }), two: useChatEvents({ key: 'r2', last: 5 }) }));
    await until(() => expect([rooms.result.current.one.status, rooms.result.current.two.status]).toEqual(['pending', 'pending']));
    expect(inFlight.running).toBe(2);
    expect(srv.pubsub.health()).toMatchObject({ subscriptions: 2, channels: 2 });

    await rooms.unmount();

    await expectIdle(srv, { connections: 1 });
    expect(inFlight.running).toBe(0);
  });

  it('holds one subscription under StrictMode, delivers each event once, and leaves server and client idle on unmount', async () => {
    await using srv = await startServer();
    const { trpcClient, inFlight } = tanstackClient(srv.url);
    const heard = new Inbox<ChatItem>();
    const room = mount(trpcClient, () => useChatEvents({ key: 'r1' }, heard.push), { strict: true });
    await until(() => expect(room.result.current.status).toBe('pending'));
    await until(() => expect(srv.pubsub.health().subscriptions).toBe(1));
    expect(inFlight.running).toBe(1);

    await say(srv, 'r1', 'once');
    await say(srv, 'r1', 'twice?');

    expect((await heard.take(2)).map(line)).toEqual(['once', 'twice?']);
    await heard.nothing();
    await room.unmount();
    await expectIdle(srv, { connections: 1 });
    expect(inFlight.running).toBe(0);
  });
});

describe("trpc-pubsub/react's useTopic beside useSubscription", () => {
  it("shares the convenience client's one connection: both get each event, and unmount leaves the server idle", async () => {
    await using srv = await startServer();
    const client = pubsubClient(srv.url);
    const both = mount(client.trpc, () => ({ topic: useTopic('chat', { key: 'r1' }), tanstack: useChatEvents({ key: 'r1' }) }), { pubsub: client });
    await until(() => expect([both.result.current.topic.status, both.result.current.tanstack.status]).toEqual(['live', 'pending']));
    await until(() => expect(srv.pubsub.health()).toMatchObject({ subscriptions: 2, channels: 1 }));
    expect(srv.connections).toHaveLength(1);
    expect(srv.server.connectionCount).toBe(1);

    const published = await say(srv, 'r1', 'to both');

    await until(() => expect(both.result.current.topic.lastEvent).toMatchObject({ id: published.id, payload: { text: 'to both' } }));
    await until(() => expect(both.result.current.tanstack.data).toMatchObject({ id: published.id, data: { payload: { text: 'to both' } } }));
    await both.unmount();
    await expectIdle(srv, { connections: 1 });
  });
});
