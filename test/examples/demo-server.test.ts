import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeClients, pubsubClient } from './clients.js';
import { killAll, ROOT, start, type RunningExample } from './spawn.js';

const START_SCRIPT = 'tsx --conditions=@trpc-pubsub/source examples/demo-server.ts';

describe('examples/demo-server.ts (npm start)', () => {
  let demo: RunningExample;
  let url: string;
  let triggerUrl: string;

  beforeAll(async () => {
    // Run exactly the `npm start` script line (with the local tsx), so the README command stays true.
    const script: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
    expect(script).toBe(START_SCRIPT);
    const [bin, ...args] = script.split(' ');
    demo = start(join(ROOT, 'node_modules', '.bin', bin!), args, { PORT: '0' });
    [url] = await demo.waitFor(/ws:\/\/127\.0\.0\.1:\d+\/trpc/);
    [triggerUrl] = await demo.waitFor(/http:\/\/127\.0\.0\.1:\d+\/trigger/);
  });
  afterAll(async () => {
    await closeClients();
    await killAll();
  });

  it('prints one WebSocket URL line and one trigger URL line, with the real port', () => {
    const lines = demo.stdout().split('\n');
    expect(lines.filter((line) => line.includes('ws://'))).toEqual([expect.stringMatching(/^WebSocket: ws:\/\/127\.0\.0\.1:\d+\/trpc$/)]);
    expect(lines.filter((line) => line.includes('/trigger'))).toEqual([
      expect.stringMatching(/^Trigger: {3}http:\/\/127\.0\.0\.1:\d+\/trigger publishes on "news"; \?topic=tick publishes on "tick"$/),
    ]);
    expect(lines).toContain('Engine:    memory (one process)');
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

  it('names its topics and routes on GET /', async () => {
    const text = await (await fetch(new URL(triggerUrl).origin)).text();
    expect(text).toContain('Topics: chat (keyed by room), news, tick');
    expect(text).toContain('GET /trigger publishes on "news"; GET /trigger?topic=tick publishes on "tick"');
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
