// @vitest-environment happy-dom
/**
 * `usePresence` against a real server with presence: the members, then
 * joins and leaves; the list again after a reconnect; a refusal; cleanup
 * on unmount (no member, no watched channel, no listener).
 */
import { renderHook } from '@testing-library/react';
import { createElement, type ReactNode } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { createPubSubClient } from '../../client/index.js';
import { PubSubProvider, usePresence, type UsePresenceResult } from '../../client/react.js';
import type { PresenceRouter } from '../fixtures/presence-app.js';
import { presenceClient, startPresenceServer } from '../fixtures/presence-clients.js';
import { leave } from '../fixtures/leftovers.js';
import WebSocket from 'ws';

const until = (assertion: () => void) => vi.waitFor(assertion, { timeout: 5000, interval: 5 });

function client(url: string, name: string) {
  // 200 ms before each reconnect: long enough for React to render `reconnecting` on a busy machine.
  const pubsub = createPubSubClient<PresenceRouter>({ url, WebSocket, connectionParams: { name }, retry: { initialDelayMs: 200, maxDelayMs: 200, jitter: 0 } });
  leave(() => pubsub.close());
  return pubsub;
}

function mount(pubsub: ReturnType<typeof client>, props: { key: string; enabled?: boolean }) {
  const wrapper = ({ children }: { children: ReactNode }) => createElement(PubSubProvider, { client: pubsub as never }, children);
  // The test project registers another router for the hooks' types: name the presence topic untyped.
  const statuses: string[] = [];
  const rendered = renderHook(
    (p: { key: string; enabled?: boolean }) => {
      const value = usePresence('room' as never, p as never) as unknown as UsePresenceResult<string>;
      if (statuses.at(-1) !== value.status) statuses.push(value.status);
      return value;
    },
    { wrapper, initialProps: props },
  );
  leave(() => rendered.unmount());
  return { ...rendered, statuses };
}

const names = (result: { current: UsePresenceResult<string> }) => result.current.members.map((m) => (m.info as { name: string }).name);

describe('usePresence', () => {
  it('shows the members, then who joins and leaves, and the list again after a reconnect', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    await using bob = presenceClient(srv.url, 'bob');
    ann.trpc.room.events.subscribe({ key: 'r' }, { onData: () => {} });
    await until(async () => expect(await srv.pubsub.members('room', { key: 'r' })).toHaveLength(1));

    const watcher = client(srv.url, 'watcher');
    const { result, statuses } = mount(watcher, { key: 'r' });
    expect(result.current.status).toBe('connecting');
    await until(() => expect(result.current.status).toBe('live'));
    expect(names(result)).toEqual(['ann']);

    const bobIn = bob.trpc.room.events.subscribe({ key: 'r' }, { onData: () => {} });
    await until(() => expect(names(result)).toEqual(['ann', 'bob']));
    bobIn.unsubscribe();
    await until(() => expect(names(result)).toEqual(['ann']));

    srv.drop('watcher');
    // Every status it rendered: the reconnect may be quick, but it is rendered.
    await until(() => expect(statuses).toEqual(['connecting', 'live', 'reconnecting', 'live']));
    expect(names(result)).toEqual(['ann']);
  });

  it('says error with the server code when refused, and idle when disabled', async () => {
    await using srv = await startPresenceServer({ authorize: ({ key }) => key !== 'secret' });
    const watcher = client(srv.url, 'watcher');
    const refused = mount(watcher, { key: 'secret' });
    await until(() => expect(refused.result.current.status).toBe('error'));
    expect(refused.result.current.error).toMatchObject({ data: { code: 'FORBIDDEN' } });
    const disabled = mount(watcher, { key: 'r', enabled: false });
    expect(disabled.result.current.status).toBe('idle');
  });

  it('leaves nothing behind on unmount', async () => {
    await using srv = await startPresenceServer();
    const watcher = client(srv.url, 'watcher');
    const { result, unmount } = mount(watcher, { key: 'r' });
    await until(() => expect(result.current.status).toBe('live'));
    expect(srv.pubsub.core.presence.watchedChannels).toBe(1);
    unmount();
    await until(() => expect(srv.pubsub.core.presence.watchedChannels).toBe(0));
    expect(srv.pubsub.core.presence.refreshing).toBe(false);
    expect(srv.pubsub.health().subscriptions).toBe(0);
  });
});
