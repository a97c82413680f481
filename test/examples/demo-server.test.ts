import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTRPCClient, createWSClient, httpBatchLink, httpSubscriptionLink, splitLink, wsLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startDemo, type Demo } from '../../examples/demo.js';
import { NOT_BUILT_PAGE } from '../../examples/demo-static.js';
import type { DemoRouter } from '../../examples/demo-topics.js';
import { redisSuite, RedisServer } from '../fixtures/redis-server.js';
import { closeClients, pubsubClient } from './clients.js';
import { killAll, ROOT, start, type RunningExample } from './spawn.js';

const START_SCRIPT = 'tsx --conditions=@trpc-pubsub/source examples/demo-server.ts';

/** A stand-in for the built web app: an index page and one asset. */
function fakeWebBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trpc-pubsub-demo-fake-web-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>demo</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log("app");');
  return dir;
}

describe('examples/demo-server.ts (npm start)', () => {
  let demo: RunningExample;
  let url: string;
  let triggerUrl: string;
  let webDir: string;

  beforeAll(async () => {
    // Run exactly the `npm start` script line (with the local tsx), so the README command stays true;
    // it serves a stand-in build (the real one is built and tested in test/browser/demo.test.ts).
    const script: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
    expect(script).toBe(START_SCRIPT);
    const [bin, ...args] = script.split(' ');
    webDir = fakeWebBuild();
    demo = start(join(ROOT, 'node_modules', '.bin', bin!), [...args, '--web-dir', webDir], { PORT: '0' });
    [url] = await demo.waitFor(/ws:\/\/127\.0\.0\.1:\d+\/trpc/);
    [triggerUrl] = await demo.waitFor(/http:\/\/127\.0\.0\.1:\d+\/trigger/);
  });
  afterAll(async () => {
    await closeClients();
    await killAll();
    rmSync(webDir, { recursive: true, force: true });
  });

  it('prints one WebSocket URL line and one trigger URL line, with the real port', () => {
    const lines = demo.stdout().split('\n');
    expect(lines.filter((line) => line.includes('ws://'))).toEqual([expect.stringMatching(/^WebSocket: ws:\/\/127\.0\.0\.1:\d+\/trpc$/)]);
    expect(lines.filter((line) => line.includes('/trigger'))).toEqual([
      expect.stringMatching(/^Trigger: {3}http:\/\/127\.0\.0\.1:\d+\/trigger publishes on "news"; \?topic=tick publishes on "tick"$/),
    ]);
    expect(lines).toContain('Engine:    memory (one process)');
    const origin = new URL(triggerUrl).origin;
    expect(lines).toContain(`Web app:   ${origin}/ (?transport=sse for SSE, ?name=ann)`);
    expect(lines).toContain(`HTTP/SSE:  ${origin}/trpc/<procedure>`);
    expect(lines.filter((line) => line.startsWith('Built:'))).toEqual([]); // run directly (not by npm start), it does not build
    expect(url).not.toContain(':0/');
    expect(new URL(triggerUrl).port).toBe(new URL(url).port);
  });

  it('GET /trigger publishes on news and answers the event id', async () => {
    const client = pubsubClient(url);
    const titles: { id: string; title: string }[] = [];
    await client.subscribe('news', (event) => titles.push({ id: event.id, title: event.payload.title })).started;

    const response = await fetch(triggerUrl);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { id: string; topic: string; payload: unknown };
    expect(body).toEqual({ id: expect.any(String), topic: 'news', payload: { title: 'Triggered #1' } });
    await vi.waitFor(() => expect(titles).toEqual([{ id: body.id, title: 'Triggered #1' }]));
  });

  it('GET /trigger?topic=tick publishes a payload-less tick', async () => {
    const client = pubsubClient(url);
    const ticks: string[] = [];
    await client.subscribe('tick', (event) => ticks.push(event.id)).started;
    const body = (await (await fetch(`${triggerUrl}?topic=tick`)).json()) as { id: string; topic: string };
    expect(body.topic).toBe('tick');
    await vi.waitFor(() => expect(ticks).toEqual([body.id]));
  });

  it('serves the web app at / and its assets with their content types; nothing outside the folder', async () => {
    const origin = new URL(triggerUrl).origin;
    const index = await fetch(`${origin}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await index.text()).toContain('src="/assets/app.js"');
    const asset = await fetch(`${origin}/assets/app.js`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await asset.text()).toBe('console.log("app");');
    for (const path of ['/nothing.js', '/%2e%2e/package.json', '/..%2fpackage.json', '/assets/%00']) {
      expect((await fetch(`${origin}${path}`)).status, path).toBe(404);
    }
  });

  it('answers tRPC over HTTP on /trpc: a query and a publish through httpBatchLink', async () => {
    const client = createTRPCClient<DemoRouter>({ links: [httpBatchLink({ url: `${new URL(triggerUrl).origin}/trpc` })] });
    expect(await client.hello.query({ name: 'http' })).toBe('Hello, http!');
    const listener = pubsubClient(url);
    const texts: string[] = [];
    await listener.subscribe('chat', { key: 'lobby' }, (event) => texts.push(event.payload.text)).started;
    const { id } = await client.chat.publish.mutate({ key: 'lobby', data: { user: 'ann', text: 'over HTTP' } });
    expect(id).toEqual(expect.any(String));
    await vi.waitFor(() => expect(texts).toEqual(['over HTTP']));
  });

  it('exits 1 with one line on stderr when its port is taken', async () => {
    const [bin, ...args] = START_SCRIPT.split(' ');
    const second = start(join(ROOT, 'node_modules', '.bin', bin!), args, { PORT: new URL(url).port });
    expect(await second.exitWithin(15_000)).toEqual({ code: 1, signal: null });
    expect(second.stderr().trim().split('\n')).toEqual([`demo: port ${new URL(url).port} is already in use; stop what runs there or pick another with PORT=…`]);
  });

  it('answers /health and /metrics', async () => {
    const origin = new URL(triggerUrl).origin;
    const health = await fetch(`${origin}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', engine: 'memory' });
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    expect(metrics).toMatch(/^trpc_pubsub_connections \d+$/m);
  });

  it('SIGINT shuts it down cleanly (exit 0) while a client is connected', async () => {
    const disconnects: (number | undefined)[] = [];
    const client = pubsubClient(url, { onDisconnect: ({ code }) => disconnects.push(code) });
    await client.ready();
    demo.child.kill('SIGINT');
    expect(await demo.exitWithin(5_000)).toEqual({ code: 0, signal: null });
    expect(demo.stdout()).toContain('Stopped.');
    expect(disconnects.length).toBeGreaterThan(0);
  });
});

describe('startDemo (in-process)', () => {
  const open: { close(): unknown }[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const demoOn = async (options: Parameters<typeof startDemo>[0] = {}): Promise<Demo> => {
    const demo = await startDemo({ port: 0, ...options });
    open.push(demo);
    return demo;
  };

  it('without a build, / answers a page saying how to build it, and everything else works', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'trpc-pubsub-demo-empty-'));
    dirs.push(empty);
    const demo = await demoOn({ webDir: empty });
    const page = await fetch(demo.url);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toBe(NOT_BUILT_PAGE);
    expect(NOT_BUILT_PAGE).toContain('npm start');
    expect((await fetch(new URL('/health', demo.url))).status).toBe(200);
    expect((await fetch(new URL('/assets/index.js', demo.url))).status).toBe(404);
  });

  it('presence info is the connectionParams name, over WebSocket and SSE; drop(name) cuts that client and it comes back', async () => {
    const demo = await demoOn({ tickMs: 60_000 });
    const wsClient = createWSClient({
      url: demo.wsUrl,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      connectionParams: { name: '  ann  ' },
      retryDelayMs: () => 50,
    });
    open.push(wsClient);
    const httpUrl = new URL('/trpc', demo.url).toString();
    const ws = createTRPCClient<DemoRouter>({ links: [wsLink({ client: wsClient })] });
    const sse = createTRPCClient<DemoRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === 'subscription',
          true: httpSubscriptionLink({ url: httpUrl, EventSource, connectionParams: { name: 'b'.repeat(40) } }),
          false: httpBatchLink({ url: httpUrl }),
        }),
      ],
    });
    const starts = { ann: 0, bob: 0 };
    const annSub = ws.chat.events.subscribe({ key: 'room' }, { onStarted: () => starts.ann++, onData: () => undefined });
    const bobSub = sse.chat.events.subscribe({ key: 'room' }, { onStarted: () => starts.bob++, onData: () => undefined });
    open.push({ close: () => annSub.unsubscribe() }, { close: () => bobSub.unsubscribe() });
    const names = async () => (await demo.pubsub.members('chat', { key: 'room' })).map((member) => member.info.name).sort();
    await vi.waitFor(async () => expect(await names()).toEqual(['ann', 'b'.repeat(32)]));

    expect(demo.drop('ann')).toBe(1);
    expect(demo.drop('b'.repeat(32))).toBe(1);
    expect(demo.drop('nobody')).toBe(0);
    await vi.waitFor(() => expect(starts).toEqual({ ann: 2, bob: 2 }), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await names()).toEqual(['ann', 'b'.repeat(32)]));
  });

  it('publishes the ticker every tickMs, under its symbol', async () => {
    const demo = await demoOn({ tickMs: 20 });
    const ticks: { symbol: string; seq: number }[] = [];
    open.push({ close: demo.pubsub.subscribe('ticker', (event) => ticks.push(event.payload)) });
    await vi.waitFor(() => expect(ticks.length).toBeGreaterThanOrEqual(3));
    expect(ticks.map((tick) => tick.symbol)).toEqual(ticks.map(() => `DEMO:${demo.port}`));
    expect(ticks.map((tick) => tick.seq)).toEqual(ticks.map((_, i) => ticks[0]!.seq + i));
  });

  it('close() ends every connection and is safe twice', async () => {
    const demo = await startDemo({ port: 0 });
    const client = pubsubClient(demo.wsUrl);
    await client.ready();
    await Promise.all([demo.close(), demo.close()]);
    expect(demo.server.health()).toMatchObject({ connections: 0 });
    expect(demo.http.listening).toBe(false);
    await closeClients();
  });
});

const redis = redisSuite('examples/demo-server.ts --redis');
describe.skipIf(redis.skip)(redis.title, () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await killAll();
    await server?.stop();
  });

  it('runs on Redis with --redis URL and --port', async () => {
    const [bin, ...args] = START_SCRIPT.split(' ');
    const demo = start(join(ROOT, 'node_modules', '.bin', bin!), [...args, '--redis', server.url, '--port', '0', '--no-build'], { PORT: '1' });
    const [line] = await demo.waitFor(/^Engine: .*$/m);
    expect(line).toBe(`Engine:    redis ${server.url}`);
    const [origin] = await demo.waitFor(/http:\/\/127\.0\.0\.1:\d+(?=\/trigger)/);
    await vi.waitFor(async () => expect(await (await fetch(`${origin}/health`)).json()).toMatchObject({ status: 'ok', engine: 'redis' }));
    demo.child.kill('SIGINT');
    expect(await demo.exitWithin(5_000)).toEqual({ code: 0, signal: null });
  });
});

describe('examples/demo-server.ts arguments', () => {
  afterAll(killAll);

  it('exits 2 with the usage on an unknown option', async () => {
    const [bin, ...args] = START_SCRIPT.split(' ');
    const demo = start(join(ROOT, 'node_modules', '.bin', bin!), [...args, '--nope']);
    expect(await demo.exitWithin(15_000)).toEqual({ code: 2, signal: null });
    expect(demo.stderr()).toContain('usage: demo-server.ts');
  });
});
