/** Systems the bench compares (`system` in the JSON rows). */
export const SYSTEMS = ['trpc-pubsub', 'raw-ws', 'trpc-by-hand', 'socket.io', 'socket.io-redis', 'trpc-pubsub-sse'] as const;
export type System = (typeof SYSTEMS)[number];

/** Server entries that run as a process of their own (`bench/servers/<name>.ts`); `socket.io-redis` is `socket-io.ts` with `--redis`. */
export const SERVER_ENTRIES = ['raw-ws', 'trpc-by-hand', 'socket-io', 'trpc-pubsub', 'trpc-pubsub-proto', 'trpc-pubsub-sse'] as const;
export type ServerEntry = (typeof SERVER_ENTRIES)[number];

/**
 * Scenarios (`scenario` in the JSON rows), all in a default run:
 * `many-channels` is bench/many-channels.ts, `sse-fanout-1k` bench/sse-fanout.ts.
 */
export const SCENARIOS = [
  'fanout-1k',
  'fanout-10k',
  'burst',
  'latency',
  'memory',
  'connect',
  'roundtrip',
  'cross-instance',
  'many-channels',
  'sse-fanout-1k',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

/**
 * Durability scenarios (bench/durability.ts): history and resume, each
 * beside its own baseline. Not in a default run; `--scenario NAME`, or
 * `--scenario durability` for all four.
 */
export const DURABILITY_SCENARIOS = ['publish-history', 'fanout-history', 'resume-latency', 'reconnect-storm'] as const;
export type DurabilityScenario = (typeof DURABILITY_SCENARIOS)[number];

/** The wire protocol a load-generator socket speaks. */
export type WireProtocol = 'raw' | 'trpc' | 'socket.io' | 'sse';

/** What the orchestrator runs: a bench system, possibly a prototype variant of one. */
export interface Target {
  /** Name in the table (`trpc-pubsub-proto:preframe` for prototypes). */
  label: string;
  /** JSON `system`. */
  system: System | 'trpc-pubsub-proto';
  entry: ServerEntry;
  protocol: WireProtocol;
  /** Extra arguments for the server entry. */
  args: string[];
}

/** One measured figure of the table and of `--json`. */
export interface Row {
  scenario: Scenario;
  system: string;
  /** Subscribers connected during the measurement. */
  subscribers: number;
  /** Frames received by the load generator per second of [first publish, last frame]. */
  deliveriesPerSec: number | null;
  /** Deliveries per second of server CPU time (robust to other processes sharing core 0). */
  deliveriesPerCpuSec: number | null;
  /** Events published per second (deliveries / subscribers). */
  eventsPerSec: number | null;
  /** RSS growth after GC, divided by subscribers (memory). */
  kbPerSubscriber: number | null;
  /** Heap growth after GC, divided by subscribers (memory). */
  heapKbPerSubscriber: number | null;
  /** Subscribed connections per second (connect). */
  connectsPerSec: number | null;
  /** Delivery latency percentiles (latency, roundtrip), milliseconds. */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** The row's headline figure: deliveries/s, KB per subscriber (memory), p99 ms (latency), connections/s (connect). */
  headline: number | null;
  headlineUnit: string;
  /** headline ÷ raw-ws's headline in the same scenario. */
  ratioToRaw: number | null;
  /** cross-instance only: deliveries/s ÷ the same system's fanout-1k. */
  ratioToSingle?: number | null;
  /**
   * headline ÷ other baselines' headline in the same scenario, by system:
   * `raw-ws` and `socket.io` (many-channels), `trpc-pubsub` (sse-fanout-1k:
   * the WebSocket path).
   */
  ratios?: Record<string, number | null>;
  /** The same ratios, of deliveries per second of server CPU time (robust to other processes on core 0). */
  ratiosPerCpu?: Record<string, number | null>;
  /** CPU of the server under test during the measurement, % of one core. */
  serverCpuPct: number | null;
  /**
   * Event-loop utilization of the server during the measurement, %: 100
   * means it never waited for I/O (saturated). Below its CPU % only when
   * other processes took core 0 from it.
   */
  serverBusyPct: number | null;
  /** CPU of the load generator during the measurement, % of one core. */
  loadgenCpuPct: number | null;
  /** Repetitions; figures are the median run (by headline). */
  runs: number;
  /** (max − min) / median of the headline over the runs, %. */
  spreadPct: number | null;
  /** Every expected frame arrived (no loss, no slow-consumer close). */
  complete: boolean;
  note?: string;
}

/** One measurement of a {@link Row}'s figures; rows are medians of these. */
export interface Sample {
  subscribers: number;
  deliveriesPerSec?: number;
  deliveriesPerCpuSec?: number;
  eventsPerSec?: number;
  kbPerSubscriber?: number;
  heapKbPerSubscriber?: number;
  connectsPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  serverCpuPct?: number;
  serverBusyPct?: number;
  loadgenCpuPct?: number;
  complete: boolean;
  note?: string;
}
