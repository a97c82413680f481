import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeClients, stockClient } from './clients.js';
import { killAll, startServer } from './spawn.js';

describe.each(['express-server.ts', 'fastify-server.ts'])('examples/%s', (file) => {
  afterEach(async () => {
    await closeClients();
    await killAll();
  });

  it('an ordinary POST route publishes to WebSocket subscribers (stock tRPC client)', async () => {
    const { example, url, httpUrl } = await startServer(file);
    await example.waitFor(/^Publish: +POST http:\/\/127\.0\.0\.1:\d+\/news$/m);

    const trpc = stockClient(url);
    expect(await trpc.hello.query({ name: 'app' })).toBe('Hello, app!'); // the app's own procedures ride along
    const received: { id: string; title: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      trpc.news.events.subscribe(undefined, {
        onStarted: () => resolve(),
        onError: reject,
        onData: ({ id, data }) => {
          if (data.kind === 'event') received.push({ id, title: data.payload.title });
        },
      });
    });

    const response = await fetch(`${httpUrl}/news`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: `Hello from ${file}` }),
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    await vi.waitFor(() => expect(received).toEqual([{ id, title: `Hello from ${file}` }]));
  });

  it('answers /health and /metrics, refuses an invalid payload with 400, and stops on SIGTERM', async () => {
    const { example, httpUrl } = await startServer(file);
    const health = await fetch(`${httpUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', connections: 0 });
    expect(await (await fetch(`${httpUrl}/metrics`)).text()).toMatch(/^trpc_pubsub_up 1$/m);

    const invalid = await fetch(`${httpUrl}/news`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: '' }),
    });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: string }).error).toContain('Invalid payload for topic "news"');

    example.child.kill('SIGTERM');
    expect(await example.exitWithin(5_000)).toEqual({ code: 0, signal: null });
  });
});
