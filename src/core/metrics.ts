/**
 * What the core and a transport count, and their Prometheus metrics
 * (`prom-client`). Hot paths only add to plain numbers; the metrics read
 * them when scraped (`collect`), except the delivery latency histogram,
 * which observes once per event an instance delivers (not per subscriber).
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the core counts, since it started. */
export interface CoreCounters {
  /** Events published (accepted by the engine). */
  published: number;
  /** Publishes the engine refused. */
  publishFailures: number;
  /** Subscriptions opened (every origin). */
  subscriptionsOpened: number;
  /** Events handed to local subscribers (one per subscriber per event). */
  delivered: number;
  /** Events replayed from history to resuming subscribers. */
  replayed: number;
  /** Gap signals sent to resuming subscribers. */
  gaps: number;
}

/** What a transport counts, since it started. */
export interface TransportCounters {
  /** Connections accepted. */
  connectionsOpened: number;
  /** Upgrades and HTTP requests refused, by reason. */
  refused: { closing: number; origin: number; maxConnections: number; maxConnectionsPerIp: number };
  /** Requests refused by the request limit (`TOO_MANY_REQUESTS`; per WebSocket connection, per client IP over HTTP). */
  rateLimited: number;
  /** Connections closed with 4429, and SSE streams ended, over the output budget. */
  slowConsumerCloses: number;
  /** Event frames not written because their connection was over its output budget (the client resumes from history). */
  dropped: number;
}

/** A fresh {@link TransportCounters}. */
export function transportCounters(): TransportCounters {
  return { connectionsOpened: 0, refused: { closing: 0, origin: 0, maxConnections: 0, maxConnectionsPerIp: 0 }, rateLimited: 0, slowConsumerCloses: 0, dropped: 0 };
}

const DELIVERY_LATENCY_NAME = 'trpc_pubsub_delivery_latency_seconds';

/** Buckets of {@link DeliveryLatency}, in seconds: 0.5 ms to 10 s. */
export const DELIVERY_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * Publish-to-delivery latency, observed when an event reaches this
 * instance's subscribers: now minus the event's `ts` (set by the publishing
 * instance, so across instances it includes their clock skew). Registered
 * in no registry: each server's registry takes it.
 */
export class DeliveryLatency {
  readonly histogram = new Histogram({
    name: DELIVERY_LATENCY_NAME,
    help: 'Publish-to-delivery latency of events delivered by this instance (publish ts to local fan-out).',
    buckets: DELIVERY_LATENCY_BUCKETS,
    registers: [],
  });

  /** An event published at `ts` (ms since the epoch) is being delivered now. */
  observe(ts: number): void {
    this.histogram.observe(Math.max(0, Date.now() - ts) / 1000);
  }
}

/** Everything the Prometheus metrics read, when scraped. */
export interface MetricSources {
  core: CoreCounters;
  transport: TransportCounters;
  latency: DeliveryLatency;
  /** Open connections. */
  connections(): number;
  /** Active subscriptions and channels with local subscribers. */
  subscriptions(): { subscriptions: number; channels: number };
  /** The engine's name and whether its broker is reachable. */
  broker(): { engine: string; up: boolean };
}

/** A counter that reads its value from `read` when scraped. */
function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge that reads its value from `read` when scraped. */
function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * Registers trpc-pubsub's metrics in `registry` (names `trpc_pubsub_*`;
 * one server per registry). Returns a function that takes them out again.
 */
export function registerMetrics(registry: Registry, sources: MetricSources): () => void {
  const names: string[] = [];
  const track = (name: string) => names.push(name);
  const counter = (name: string, help: string, read: () => number) => {
    readCounter(registry, name, help, read);
    track(name);
  };
  const gauge = (name: string, help: string, read: () => number) => {
    readGauge(registry, name, help, read);
    track(name);
  };
  const { core, transport } = sources;
  gauge('trpc_pubsub_connections', 'Open connections (WebSockets and SSE streams).', sources.connections);
  counter('trpc_pubsub_connections_total', 'Connections accepted since start.', () => transport.connectionsOpened);
  new Counter({
    name: 'trpc_pubsub_connections_refused_total',
    help: 'Upgrades and HTTP requests refused, by reason (closing, origin, max_connections, max_connections_per_ip).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const { refused } = transport;
      this.inc({ reason: 'closing' }, refused.closing);
      this.inc({ reason: 'origin' }, refused.origin);
      this.inc({ reason: 'max_connections' }, refused.maxConnections);
      this.inc({ reason: 'max_connections_per_ip' }, refused.maxConnectionsPerIp);
    },
  });
  track('trpc_pubsub_connections_refused_total');
  gauge('trpc_pubsub_subscriptions', 'Active subscriptions (all origins).', () => sources.subscriptions().subscriptions);
  gauge('trpc_pubsub_channels', 'Channels with local subscribers.', () => sources.subscriptions().channels);
  counter('trpc_pubsub_subscriptions_total', 'Subscriptions opened since start (all origins).', () => core.subscriptionsOpened);
  counter('trpc_pubsub_published_total', 'Events published through this instance.', () => core.published);
  counter('trpc_pubsub_publish_failures_total', 'Publishes the engine refused or that timed out.', () => core.publishFailures);
  counter('trpc_pubsub_delivered_total', 'Events handed to local subscribers (one per subscriber per event).', () => core.delivered);
  counter('trpc_pubsub_dropped_total', 'Event frames not written because their connection was over its output budget (it is closed with 4429 and resumes).', () => transport.dropped);
  counter('trpc_pubsub_slow_consumer_closes_total', 'Connections closed with 4429 and SSE streams ended (output budget exceeded).', () => transport.slowConsumerCloses);
  counter('trpc_pubsub_rate_limited_total', 'Requests refused with TOO_MANY_REQUESTS by the request limit (per WebSocket connection, per client IP over HTTP).', () => transport.rateLimited);
  counter('trpc_pubsub_replayed_total', 'Events replayed from history to resuming subscribers.', () => core.replayed);
  counter('trpc_pubsub_gaps_total', 'Gap signals sent to subscribers.', () => core.gaps);
  new Gauge({
    name: 'trpc_pubsub_broker_up',
    help: '1 when the engine reaches its broker, 0 when it does not (as health reports it).',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      this.reset();
      const broker = sources.broker();
      this.set({ engine: broker.engine }, broker.up ? 1 : 0);
    },
  });
  track('trpc_pubsub_broker_up');
  gauge('trpc_pubsub_up', '1 when the engine is healthy, 0 when degraded.', () => (sources.broker().up ? 1 : 0));
  registry.registerMetric(sources.latency.histogram);
  track(DELIVERY_LATENCY_NAME);
  return () => {
    for (const name of names) registry.removeSingleMetric(name);
  };
}

export { Registry };
