/**
 * `/metrics` after a known workload, parsed: connections, refusals,
 * subscriptions, published and delivered events, rate-limited requests,
 * slow-consumer closes and dropped frames, broker state, and the
 * publish-to-delivery latency histogram; and the app's own registry.
 */
import { Counter, Registry } from 'prom-client';
import WebSocket from 'ws';
import { describe, expect, it, vi } from 'vitest';
import { CloseCode } from 'trpc-pubsub/client';
import { rawClient, reply, upgradeStatus } from '../fixtures/clients.js';
import { startServer, type TestServer } from '../fixtures/server.js';

/** Every sample of a Prometheus text exposition, by `name{labels}`. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

async function scrape(srv: TestServer): Promise<Map<string, number>> {
  const response = await fetch(`${srv.httpUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await response.text());
}

describe('/metrics', () => {
  it('counts a known workload', async () => {
    await using srv = await startServer({ server: { rateLimit: { requestsPerSecond: 10, burst: 3 }, slowConsumer: { maxBufferedBytes: 64 * 1024 } } });
    const subscribers = [await rawClient(srv.url), await rawClient(srv.url), await rawClient(srv.url)]; // one by one: srv.connections in the same order
    for (const subscriber of subscribers) await subscriber.subscribe(1, 'news.events');
    expect(await upgradeStatus(srv.url, { origin: 'https://evil.example' })).toBe(403);

    for (let n = 0; n < 5; n++) await srv.pubsub.publish('news', { title: `n${n}` });
    for (const subscriber of subscribers) for (let n = 0; n < 5; n++) await subscriber.waitForMessage(reply(1, 'data'));
    // Subscriber 0 used 1 of its 3 tokens: 2 more queries pass, the next 2 are refused.
    subscribers[0]!.send([1, 2, 3, 4].map((n) => ({ id: 10 + n, method: 'query', params: { path: 'hello' } })));
    for (let n = 1; n <= 4; n++) await subscribers[0]!.waitForMessage(reply(10 + n));
    await subscribers[0]!.close(); // the server reads its close frame once the bucket refilled (0.3 s)
    // Subscriber 1 stops reading; big events push it over its 64 KiB budget: closed with 4429, what was not written is dropped.
    subscribers[1]!.socket.pause();
    const onServer = srv.connections[1]!.socket;
    for (let n = 0; onServer.readyState === WebSocket.OPEN; n++) {
      if (n === 2000) {
        subscribers[1]!.socket.resume();
        throw new Error('the stalled subscriber was not closed');
      }
      await srv.pubsub.publish('news', { title: 'x'.repeat(32 * 1024) });
      await subscribers[2]!.waitForMessage(reply(1, 'data')); // one event per round trip of the reading subscriber
    }
    subscribers[1]!.socket.resume(); // so that it reads the close frame
    await vi.waitFor(() => expect(srv.disconnects.map((d) => d.code)).toContain(CloseCode.SlowConsumer));
    await vi.waitFor(() => expect(srv.server.connectionCount).toBe(1));

    const samples = await scrape(srv);

    const published = srv.pubsub.core.counters.published;
    expect(published).toBeGreaterThan(5);
    expect(samples.get('trpc_pubsub_connections')).toBe(1);
    expect(samples.get('trpc_pubsub_connections_total')).toBe(3);
    expect(samples.get('trpc_pubsub_connections_refused_total{reason="origin"}')).toBe(1);
    expect(samples.get('trpc_pubsub_connections_refused_total{reason="max_connections"}')).toBe(0);
    expect(samples.get('trpc_pubsub_subscriptions')).toBe(1);
    expect(samples.get('trpc_pubsub_subscriptions_total')).toBe(3);
    expect(samples.get('trpc_pubsub_channels')).toBe(1);
    expect(samples.get('trpc_pubsub_published_total')).toBe(published);
    // 5 events to 3 subscribers, then each later event to the 2 still subscribed (subscriber 1 until it was closed, and subscriber 2).
    const delivered = samples.get('trpc_pubsub_delivered_total')!;
    expect(delivered).toBeGreaterThanOrEqual(15 + (published - 5));
    expect(delivered).toBeLessThanOrEqual(15 + 2 * (published - 5));
    expect(samples.get('trpc_pubsub_rate_limited_total')).toBe(2);
    expect(samples.get('trpc_pubsub_slow_consumer_closes_total')).toBe(1);
    expect(samples.get('trpc_pubsub_dropped_total')).toBeGreaterThanOrEqual(1);
    expect(samples.get('trpc_pubsub_broker_up{engine="memory"}')).toBe(1);
    expect(samples.get('trpc_pubsub_delivery_latency_seconds_count')).toBe(published);
    expect(samples.get('trpc_pubsub_delivery_latency_seconds_bucket{le="+Inf"}')).toBe(published);
    expect(samples.get('trpc_pubsub_delivery_latency_seconds_bucket{le="10"}')).toBe(published);
  });

  it("serves trpc-pubsub's metrics beside the app's own in the app's registry, and leaves it at close()", async () => {
    const registry = new Registry();
    const appCounter = new Counter({ name: 'app_orders_total', help: 'Orders.', registers: [registry] });
    appCounter.inc(7);
    const srv = await startServer({ server: { metrics: { registry } } });
    await srv.pubsub.publish('news', { title: 'one' });

    const fromRegistry = parse(await registry.metrics());
    const fromServer = await scrape(srv);

    expect(fromRegistry.get('app_orders_total')).toBe(7);
    expect(fromRegistry.get('trpc_pubsub_published_total')).toBe(1);
    expect(fromServer.get('app_orders_total')).toBe(7);
    await srv.close();
    expect(registry.getMetricsAsArray().map((metric) => metric.name)).toEqual(['app_orders_total']);
    // Its successor registers in the same registry.
    await using next = await startServer({ server: { metrics: { registry } } });
    expect(parse(await registry.metrics()).get('trpc_pubsub_published_total')).toBe(0);
    expect(next.server.state).toBe('open');
  });
});
