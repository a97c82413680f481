/**
 * examples/split-link-client.ts against a server with `sse: true`: the
 * typed client (subscriptions over SSE, publishes over HTTP), resume after
 * the server ends the stream (its instance shuts down; the balancer sends
 * the reconnection to a successor), and the script itself as a process.
 */
import { createPubSubServer, type PubSubServer } from 'trpc-pubsub';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { appRouter, pubsub } from '../../examples/app.js';
import { createSplitLinkClient } from '../../examples/split-link-client.js';
import { listen } from '../fixtures/clients.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { deadPort } from '../sse/sse-clients.js';
import { killAll, runExample } from './spawn.js';

const servers: PubSubServer<typeof appRouter>[] = [];
afterEach(async () => {
  await killAll();
  for (const server of servers.splice(0)) await server.close();
});

async function sseServer() {
  const server = createPubSubServer({ pubsub, router: appRouter, sse: { retryMs: 20 }, keepAlive: { enabled: false } });
  servers.push(server);
  const { port, httpUrl } = await server.listen({ port: 0 });
  return { server, port, url: `${httpUrl}/trpc` };
}

describe('examples/split-link-client.ts', () => {
  it('subscribes over SSE and publishes over HTTP, typed', async () => {
    const { server, url } = await sseServer();
    const trpc = createSplitLinkClient(url);
    const sub = listen(trpc.chat.events, { key: 'split-1' });
    await sub.started;

    await trpc.chat.publish.mutate({ key: 'split-1', data: { user: 'ann', text: 'hi' } });
    const { data } = await sub.data.next();
    expect(data).toMatchObject({ kind: 'event', topic: 'chat', key: 'split-1', payload: { user: 'ann', text: 'hi' } });
    expect(await trpc.hello.query({ name: 'sse' })).toBe('Hello, sse!');
    expect(server.health()).toMatchObject({ sseStreams: 1 });
    sub.unsubscribe();
    await vi.waitFor(() => expect(server.connectionCount).toBe(0));
  });

  it('resumes after the server ends the stream: its successor replays exactly what was missed', async () => {
    const first = await sseServer();
    await using proxy = await TcpProxy.start(first.port);
    const trpc = createSplitLinkClient(`http://127.0.0.1:${proxy.port}/trpc`);
    const sub = listen(trpc.chat.events, { key: 'split-2' });
    await sub.started;
    await pubsub.publish('chat', { user: 'ann', text: 'before' }, { key: 'split-2' });
    expect((await sub.data.next()).data.payload.text).toBe('before');

    const second = await sseServer();
    proxy.retarget(await deadPort()); // between instances: reconnections fail for a moment
    await first.server.close(); // ends the stream at once (there is no reconnect notice over SSE)
    await pubsub.publish('chat', { user: 'ann', text: 'missed 1' }, { key: 'split-2' });
    await pubsub.publish('chat', { user: 'ann', text: 'missed 2' }, { key: 'split-2' });
    proxy.retarget(second.port); // the balancer sends new connections to the successor
    await vi.waitFor(() => expect(second.server.health()).toMatchObject({ sseStreams: 1 }), { timeout: 10_000 });
    await pubsub.publish('chat', { user: 'ann', text: 'after' }, { key: 'split-2' });

    const resumed = await sub.data.take(3);
    expect(resumed.map(({ data }) => data.payload.text)).toEqual(['missed 1', 'missed 2', 'after']);
    await sub.data.nothing(); // no duplicate
  });

  it('runs as a script: follows the room, says hello over HTTP and prints what arrives', async () => {
    const { url } = await sseServer();
    const script = runExample('split-link-client.ts', [url, 'split-3']);
    await script.waitFor(/^Subscribed to chat \[split-3\] over SSE/m);
    await script.waitFor(/^chat \[split-3\] split-link: hello over HTTP$/m);

    await pubsub.publish('chat', { user: 'bob', text: 'from the server' }, { key: 'split-3' });
    await script.waitFor(/^chat \[split-3\] bob: from the server$/m);
  });
});
