/**
 * `npm run bench`: trpc-pubsub against raw `ws`, tRPC by hand and Socket.IO,
 * same harness, same payloads, same run.
 *
 *   npm run bench                      full run (3 repetitions, medians)
 *   npm run bench -- --quick           spot check, under 2 minutes
 *   npm run bench -- --json out.json   also write the rows as JSON
 *   npm run bench -- --scenario fanout-1k,burst --system trpc-pubsub
 *   npm run bench -- --system trpc-pubsub-proto:preframe   a prototype (bench/servers/trpc-pubsub-proto.ts)
 *   npm run bench -- --scenario durability   history and resume (bench/durability.ts; not in a default run)
 *   npm run bench -- --scenario publish-history,fanout-history,resume-latency,reconnect-storm
 *   npm run bench -- --scenario fairness     a flooding client vs a probe stream (bench/fairness.ts; not in a default run)
 *   npm run bench -- --scenario many-channels  10,000 rooms of 2 members (bench/many-channels.ts)
 *   npm run bench -- --scenario sse-fanout-1k  SSE fan-out against the WebSocket path (bench/sse-fanout.ts)
 *   npm run bench -- --scenario presence-churn presence joins/leaves on two Redis instances (bench/presence-churn.ts; not in a default run)
 *
 * Every server runs in its own process pinned to core 0 (`taskset -c 0`),
 * the load generator in another pinned to core 1; raw `ws` always runs too,
 * as the reference of the ratios. See bench/RESULTS.md for the method.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { renderChart } from './chart.js';
import { durabilityTable, runDurability, type DurabilityRow } from './durability.js';
import { FAIRNESS_SCENARIO, fairnessTable, runFairness, type FairnessRow } from './fairness.js';
import { buildLibrary, type LibraryEnv } from './lib/build.js';
import { hasRooms, runManyChannels } from './many-channels.js';
import { PRESENCE_SCENARIO, presenceTable, runPresenceChurn, type PresenceRow } from './presence-churn.js';
import { runSseFanout } from './sse-fanout.js';
import { sleep } from './lib/clock.js';
import { ChildProc, killAll, ROOT, track } from './lib/ipc.js';
import { DURABILITY_SCENARIOS, SCENARIOS, type DurabilityScenario, type Row, type Sample, type Scenario, type Target } from './lib/systems.js';
import type { SaturateResult } from './servers/common.js';

// ------------------------------------------------------------------ options

interface Options {
  quick: boolean;
  json: string | undefined;
  markdown: string | undefined;
  chart: string | undefined;
  scenarios: Set<Scenario>;
  /** Durability scenarios (bench/durability.ts), only when named. */
  durability: Set<DurabilityScenario>;
  /** The fairness scenario (bench/fairness.ts), only when named. */
  fairness: boolean;
  /** The presence-churn scenario (bench/presence-churn.ts), only when named. */
  presence: boolean;
  targets: Target[];
  repeat: number;
  /** Run src/ through tsx instead of the tsc build (see lib/build.ts). */
  source: boolean;
}

const BASE_TARGETS: Record<string, Target> = {
  'raw-ws': { label: 'raw-ws', system: 'raw-ws', entry: 'raw-ws', protocol: 'raw', args: [] },
  'trpc-pubsub': { label: 'trpc-pubsub', system: 'trpc-pubsub', entry: 'trpc-pubsub', protocol: 'trpc', args: [] },
  'trpc-by-hand': { label: 'trpc-by-hand', system: 'trpc-by-hand', entry: 'trpc-by-hand', protocol: 'trpc', args: [] },
  'socket.io': { label: 'socket.io', system: 'socket.io', entry: 'socket-io', protocol: 'socket.io', args: [] },
};

function usage(message: string): never {
  console.error(`${message}
usage: npm run bench -- [--quick] [--json FILE] [--md FILE] [--chart FILE] [--repeat N] [--source]
                        [--scenario ${SCENARIOS.join('|')}|durability|${DURABILITY_SCENARIOS.join('|')}|${FAIRNESS_SCENARIO}|${PRESENCE_SCENARIO}[,…]]
                        [--system ${Object.keys(BASE_TARGETS).join('|')}|socket.io-redis|trpc-pubsub-proto:VARIANT[,…]]`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  const values = (flag: string) => {
    const found: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (arg === flag) found.push(...(argv[++i] ?? usage(`${flag} needs a value`)).split(','));
      else if (arg.startsWith(`${flag}=`)) found.push(...arg.slice(flag.length + 1).split(','));
    }
    return found;
  };
  const known = new Set(['--quick', '--json', '--md', '--chart', '--scenario', '--system', '--repeat', '--source']);
  for (const arg of argv) if (arg.startsWith('--') && !known.has(arg.split('=')[0]!)) usage(`unknown flag ${arg}`);
  const quick = argv.includes('--quick');
  const scenarioNames = values('--scenario');
  const isDurability = (name: string) => (DURABILITY_SCENARIOS as readonly string[]).includes(name);
  for (const name of scenarioNames) {
    if (!(SCENARIOS as readonly string[]).includes(name) && !isDurability(name) && name !== 'durability' && name !== FAIRNESS_SCENARIO && name !== PRESENCE_SCENARIO) usage(`unknown scenario ${name}`);
  }
  const durability = new Set<DurabilityScenario>(
    scenarioNames.includes('durability') ? DURABILITY_SCENARIOS : (scenarioNames.filter(isDurability) as DurabilityScenario[]),
  );
  const classic = scenarioNames.filter((name) => (SCENARIOS as readonly string[]).includes(name)) as Scenario[];
  const scenarios = new Set<Scenario>(scenarioNames.length > 0 ? classic : SCENARIOS);
  const systemNames = values('--system');
  const targets: Target[] = [BASE_TARGETS['raw-ws']!];
  const wanted = systemNames.length > 0 ? systemNames : ['trpc-pubsub', 'trpc-by-hand', 'socket.io'];
  for (const name of wanted) {
    if (name === 'raw-ws') continue;
    if (name === 'socket.io-redis') {
      // The Redis adapter only exists in cross-instance; it rides on the socket.io target.
      if (!wanted.includes('socket.io')) targets.push(BASE_TARGETS['socket.io']!);
      continue;
    }
    const base = BASE_TARGETS[name];
    if (base !== undefined) {
      if (!targets.includes(base)) targets.push(base);
      continue;
    }
    const proto = /^trpc-pubsub-proto:([a-z0-9+-]+)$/.exec(name);
    if (proto === null) usage(`unknown system ${name}`);
    targets.push({ label: name, system: 'trpc-pubsub-proto', entry: 'trpc-pubsub-proto', protocol: 'trpc', args: ['--variant', proto[1]!] });
  }
  const repeatValue = values('--repeat')[0];
  const repeat = repeatValue === undefined ? (quick ? 1 : 3) : Number(repeatValue);
  if (!Number.isInteger(repeat) || repeat < 1) usage('--repeat needs a positive integer');
  return {
    quick,
    json: values('--json')[0],
    markdown: values('--md')[0],
    chart: values('--chart')[0],
    scenarios,
    durability,
    fairness: scenarioNames.includes(FAIRNESS_SCENARIO),
    presence: scenarioNames.includes(PRESENCE_SCENARIO),
    targets,
    repeat,
    source: argv.includes('--source'),
  };
}

const options = parseOptions(process.argv.slice(2));

/** Durations and sizes; `--quick` shrinks durations, never subscriber counts. */
const cfg = options.quick
  ? { warmMs: 300, measureMs: 1200, latencyWarmMs: 300, latencyMs: 1500, roundtripMs: 1200, crossMs: 1500, budgetMs: 115_000 }
  : { warmMs: 1000, measureMs: 4000, latencyWarmMs: 1000, latencyMs: 5000, roundtripMs: 4000, crossMs: 4000, budgetMs: 40 * 60_000 };
// Each durability scenario takes up to ~2 minutes (bench/durability.ts).
cfg.budgetMs += options.durability.size * 180_000;
// The fairness scenario takes under a minute (bench/fairness.ts).
if (options.fairness) cfg.budgetMs += 120_000;
// presence-churn: three phases per repetition (bench/presence-churn.ts).
if (options.presence) cfg.budgetMs += 60_000 + options.repeat * 60_000;
// many-channels: 10,000 connections per system, then saturation and latency per repetition (bench/many-channels.ts).
if (options.scenarios.has('many-channels')) cfg.budgetMs += 60_000 + options.repeat * 90_000;
// sse-fanout-1k: two fresh servers, 1,000 subscribers each (bench/sse-fanout.ts).
if (options.scenarios.has('sse-fanout-1k')) cfg.budgetMs += 30_000 + options.repeat * 60_000;
const SUBS_1K = 1000;
const SUBS_10K = 10_000;
const SUBS_ROUNDTRIP = 100;
const MEMORY_WARM = Number(process.env['BENCH_MEMORY_WARM'] ?? 200);
/** Four full GCs spread over this many ms before reading RSS (finalizers and sweeping need the time). */
const MEMORY_SETTLE_MS = Number(process.env['BENCH_MEMORY_SETTLE'] ?? 1200);
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 100);
const BURST = 10;
/** Latency is read from one subscriber in 10 (100 of 1,000, a uniform sample of fan-out positions). */
const LATENCY_SAMPLE_EVERY = 10;
const CROSS_WINDOW = Number(process.env["BENCH_CROSS_WINDOW"] ?? 2);

// ------------------------------------------------------------ measurements


interface CountResult {
  frames: number;
  complete: boolean;
  lastUs: number;
  startUs: number;
  cpuUs: number;
  cpuWallUs: number;
  errors: number;
  unexpectedCloses: number;
  closeReasons: Record<string, number>;
}

interface ServerClock {
  cpuUs: number;
  nowUs: number;
  idleMs: number;
  activeMs: number;
}

/** Server CPU % and event-loop busy % between two `cpu` readings. */
function serverLoad(a: ServerClock, b: ServerClock): { serverCpuPct: number; serverBusyPct: number } {
  const active = b.activeMs - a.activeMs;
  const idle = b.idleMs - a.idleMs;
  return { serverCpuPct: ((b.cpuUs - a.cpuUs) / (b.nowUs - a.nowUs)) * 100, serverBusyPct: (active / (active + idle)) * 100 };
}

interface LatencyStats {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

const samples = new Map<string, { scenario: Scenario; system: string; list: Sample[] }>();

function record(scenario: Scenario, system: string, sample: Sample): void {
  const key = `${scenario}\u0000${system}`;
  let entry = samples.get(key);
  if (entry === undefined) {
    entry = { scenario, system, list: [] };
    samples.set(key, entry);
  }
  entry.list.push(sample);
  log(`  ${scenario.padEnd(14)} ${system.padEnd(28)} ${describe(scenario, sample)}`);
}

function headlineOf(scenario: Scenario, sample: Sample): { value: number | undefined; unit: string } {
  switch (scenario) {
    case 'memory':
      return { value: sample.kbPerSubscriber, unit: 'KB/sub' };
    case 'latency':
      return { value: sample.p99Ms, unit: 'p99 ms' };
    case 'connect':
      return { value: sample.connectsPerSec, unit: 'conn/s' };
    default:
      return { value: sample.deliveriesPerSec, unit: 'deliveries/s' };
  }
}

function describe(scenario: Scenario, s: Sample): string {
  const { value, unit } = headlineOf(scenario, s);
  const cpu =
    s.serverCpuPct === undefined
      ? ''
      : ` server CPU ${s.serverCpuPct.toFixed(0)}% busy ${(s.serverBusyPct ?? Number.NaN).toFixed(0)}%, loadgen CPU ${(s.loadgenCpuPct ?? Number.NaN).toFixed(0)}%`;
  const lat = s.p50Ms === undefined ? '' : ` p50 ${s.p50Ms.toFixed(2)} p99 ${(s.p99Ms ?? Number.NaN).toFixed(2)} ms`;
  return `${fmt(value)} ${unit}${lat}${cpu}${s.complete ? '' : ' INCOMPLETE'}${s.note === undefined ? '' : ` (${s.note})`}`;
}

const started = Date.now();
function log(message: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
}

function fmt(value: number | null | undefined, digits?: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** Node flags of every server (`--expose-gc` for the memory scenario); BENCH_SERVER_FLAGS overrides, for experiments. */
const SERVER_NODE_FLAGS = (process.env['BENCH_SERVER_FLAGS'] ?? '--expose-gc').split(' ').filter((f) => f !== '');

let loadgen!: ChildProc;
let libraryEnv: LibraryEnv = {};
const servers = new Map<string, ChildProc>();

function startServer(target: Target, extra: string[] = [], cpu = 0, name = target.label): Promise<ChildProc<{ port: number }>> {
  return ChildProc.start<{ port: number }>({
    name,
    script: `bench/servers/${target.entry}.ts`,
    cpu,
    nodeArgs: [...SERVER_NODE_FLAGS],
    args: [...target.args, ...extra],
    env: libraryEnv,
  });
}

/**
 * Connects `n` subscribers of the bench topic, or with `rooms` (many-channels)
 * `n` connections each joining `rooms.perConn` rooms (`n × perConn` subscriptions).
 */
async function connect(name: string, target: Target, server: ChildProc<{ port: number }>, n: number, rooms?: { count: number; perConn: number }) {
  const cpu0 = await server.call<ServerClock>('cpu');
  const result = await loadgen.call<{ opened: number; failed: number; firstError?: string; ms: number; cpuUs: number }>(
    'connect',
    { name, protocol: target.protocol, port: server.info.port, n, concurrency: CONCURRENCY, timeoutMs: 20_000, ...(rooms === undefined ? {} : { rooms }) },
    180_000,
  );
  const cpu1 = await server.call<ServerClock>('cpu');
  if (result.failed > 0) throw new Error(`${name}: ${result.failed} of ${n} subscribers failed: ${result.firstError}`);
  await server.call('waitSubscribers', { n: n * (rooms?.perConn ?? 1), timeoutMs: 20_000 }, 30_000);
  return {
    connectsPerSec: (n / result.ms) * 1000,
    ...serverLoad(cpu0, cpu1),
    loadgenCpuPct: (result.cpuUs / (result.ms * 1000)) * 100,
  };
}

async function disconnect(name: string, server: ChildProc): Promise<void> {
  await loadgen.call('disconnect', { name });
  await server.call('waitSubscribers', { n: 0, timeoutMs: 20_000 }, 30_000);
}

/**
 * What a publish loop sends to, besides the bench topic's subscribers:
 * `rooms` (many-channels) publishes each event to the next of that many
 * rooms; `fanout` is then the members per room (deliveries per event).
 */
interface PublishTarget {
  rooms?: number;
  fanout?: number;
}

/** Server-side publish loop (`perTurn` events per loop turn) for `ms`; frames counted until all arrived. */
async function saturate(name: string, server: ChildProc, subscribers: number, perTurn: number, ms: number, to: PublishTarget = {}): Promise<Sample> {
  const fanout = to.fanout ?? subscribers;
  await loadgen.call('countStart', { name });
  const sat = await server.call<SaturateResult>('saturate', { durationMs: ms, perTurn, ...(to.rooms === undefined ? {} : { rooms: to.rooms }) }, ms + 30_000);
  const got = await loadgen.call<CountResult>('countWait', { name, target: sat.events * fanout, idleMs: 3000, timeoutMs: 120_000 }, 130_000);
  const spanUs = Math.max(got.lastUs, sat.endUs) - sat.startUs;
  const notes: string[] = [];
  if (sat.throttled > 0) notes.push(`guard paused ${sat.throttled} turns`);
  const drainMs = (got.lastUs - sat.endUs) / 1000;
  if (drainMs > 50) notes.push(`drain ${drainMs.toFixed(0)} ms`);
  if (!got.complete) notes.push(`${sat.events * fanout - got.frames} frames missing`);
  if (got.unexpectedCloses > 0) notes.push(`closes: ${JSON.stringify(got.closeReasons)}`);
  if (got.errors > 0) notes.push(`${got.errors} error frames`);
  const sample: Sample = {
    subscribers,
    deliveriesPerSec: (got.frames / spanUs) * 1e6,
    deliveriesPerCpuSec: (got.frames / sat.cpuUs) * 1e6,
    eventsPerSec: (got.frames / fanout / spanUs) * 1e6,
    serverCpuPct: (sat.cpuUs / (sat.endUs - sat.startUs)) * 100,
    serverBusyPct: sat.elu * 100,
    loadgenCpuPct: (got.cpuUs / got.cpuWallUs) * 100,
    complete: got.complete && got.unexpectedCloses === 0,
  };
  if (notes.length > 0) sample.note = notes.join('; ');
  return sample;
}

/** Warm-up (not recorded, drained), then a measured saturation. */
async function saturation(name: string, server: ChildProc, subscribers: number, perTurn: number, to: PublishTarget = {}): Promise<Sample> {
  await saturate(name, server, subscribers, perTurn, cfg.warmMs, to);
  return saturate(name, server, subscribers, perTurn, cfg.measureMs, to);
}

async function latency(name: string, server: ChildProc, subscribers: number, eventsPerSec: number, to: PublishTarget = {}): Promise<Sample> {
  const fanout = to.fanout ?? subscribers;
  const rooms = to.rooms === undefined ? {} : { rooms: to.rooms };
  await server.call('rate', { eventsPerSec, durationMs: cfg.latencyWarmMs, ...rooms }, cfg.latencyWarmMs + 30_000);
  await sleep(100);
  await loadgen.call('countStart', { name });
  await loadgen.call('latencyStart', { name, every: LATENCY_SAMPLE_EVERY });
  const run = await server.call<{ events: number; startUs: number; endUs: number; cpuUs: number; elu: number; late: number }>(
    'rate',
    { eventsPerSec, durationMs: cfg.latencyMs, ...rooms },
    cfg.latencyMs + 30_000,
  );
  const got = await loadgen.call<CountResult>('countWait', { name, target: run.events * fanout, idleMs: 2000, timeoutMs: 60_000 }, 70_000);
  const stats = await loadgen.call<LatencyStats>('latencyStop', { name });
  const sample: Sample = {
    subscribers,
    deliveriesPerSec: (got.frames / (run.endUs - run.startUs)) * 1e6,
    eventsPerSec,
    p50Ms: stats.p50Ms,
    p99Ms: stats.p99Ms,
    maxMs: stats.maxMs,
    serverCpuPct: (run.cpuUs / (run.endUs - run.startUs)) * 100,
    serverBusyPct: run.elu * 100,
    loadgenCpuPct: (got.cpuUs / got.cpuWallUs) * 100,
    complete: got.complete && got.unexpectedCloses === 0,
    note: `${fmt(eventsPerSec, 1)} events/s, p99.9 ${fmt(stats.p999Ms)} ms`,
  };
  if (run.late > 0) sample.note += `, ${run.late} publishes late`;
  return sample;
}

async function roundtrip(name: string, server: ChildProc, subscribers: number, ms: number): Promise<Sample> {
  const cpu0 = await server.call<ServerClock>('cpu');
  await loadgen.call('countStart', { name });
  const rt = await loadgen.call<LatencyStats & { rounds: number; sent: number; startUs: number; endUs: number; stalled: boolean; errors: number }>(
    'roundtrip',
    { name, durationMs: ms, stallMs: 3000 },
    ms + 30_000,
  );
  const got = await loadgen.call<CountResult>('countWait', { name, target: rt.sent * subscribers, idleMs: 2000, timeoutMs: 30_000 }, 40_000);
  const cpu1 = await server.call<ServerClock>('cpu');
  const spanUs = Math.max(got.lastUs, rt.endUs) - rt.startUs;
  const sample: Sample = {
    subscribers,
    deliveriesPerSec: (got.frames / spanUs) * 1e6,
    deliveriesPerCpuSec: (got.frames / (cpu1.cpuUs - cpu0.cpuUs)) * 1e6,
    eventsPerSec: (rt.rounds / spanUs) * 1e6,
    p50Ms: rt.p50Ms,
    p99Ms: rt.p99Ms,
    maxMs: rt.maxMs,
    ...serverLoad(cpu0, cpu1),
    loadgenCpuPct: (got.cpuUs / got.cpuWallUs) * 100,
    complete: got.complete && !rt.stalled && rt.errors === 0,
    note: `${rt.rounds} round trips`,
  };
  if (rt.stalled) sample.note += ', stalled';
  return sample;
}

// -------------------------------------------------------------- scenarios

const want = (scenario: Scenario) => options.scenarios.has(scenario);

/**
 * Connects 10,000 subscribers to `server` after a warm-up cycle and, when
 * the memory scenario is on, records RSS and heap growth per subscriber.
 * Leaves the subscribers connected; returns the connect figures.
 */
async function tenThousandConnected(name: string, target: Target, server: ChildProc<{ port: number }>) {
  // Warm the connection path (JIT, lazy module state) before the baseline.
  await connect(name, target, server, MEMORY_WARM);
  await disconnect(name, server);
  const base = await server.call<NodeJS.MemoryUsage>('memory', { settleMs: MEMORY_SETTLE_MS });
  const conn = await connect(name, target, server, SUBS_10K);
  if (want('memory')) {
    await sleep(500);
    const after = await server.call<NodeJS.MemoryUsage>('memory', { settleMs: MEMORY_SETTLE_MS });
    record('memory', target.label, {
      subscribers: SUBS_10K,
      kbPerSubscriber: (after.rss - base.rss) / SUBS_10K / 1024,
      heapKbPerSubscriber: (after.heapUsed - base.heapUsed) / SUBS_10K / 1024,
      complete: true,
      note: `heap ${fmt((after.heapUsed - base.heapUsed) / SUBS_10K / 1024)} KB/sub; RSS ${fmt(base.rss / 2 ** 20, 1)} → ${fmt(after.rss / 2 ** 20, 1)} MiB`,
    });
  }
  return conn;
}

async function tenThousand(target: Target): Promise<void> {
  const server = servers.get(target.label)! as ChildProc<{ port: number }>;
  const name = `${target.label}:10k`;
  const conn = await tenThousandConnected(name, target, server);
  if (want('connect')) {
    record('connect', target.label, { subscribers: SUBS_10K, ...conn, complete: true, note: `concurrency ${CONCURRENCY}` });
  }
  if (want('fanout-10k')) {
    for (let rep = 0; rep < options.repeat; rep++) record('fanout-10k', target.label, await saturation(name, server, SUBS_10K, 1));
  }
  await disconnect(name, server);
}

/**
 * Further memory samples, each on a fresh server process: RSS after GC
 * depends on when V8 and the allocator hand pages back, so it varies more
 * between processes than the heap does; the table shows the median.
 * Repetitions interleave the systems.
 */
async function moreMemorySamples(targets: Target[]): Promise<void> {
  for (let rep = 1; rep < options.repeat; rep++) {
    for (const target of targets) {
      const name = `${target.label}:memory-${rep + 1}`;
      const server = await startServer(target, [], 0, name);
      try {
        await tenThousandConnected(name, target, server);
        await disconnect(name, server);
      } finally {
        await server.stop(3000);
      }
    }
  }
}

async function oneThousand(targets: Target[]): Promise<void> {
  const name = (t: Target) => `${t.label}:1k`;
  for (const target of targets) await connect(name(target), target, servers.get(target.label) as ChildProc<{ port: number }>, SUBS_1K);
  // Repetitions interleave the systems, so that noise from other processes spreads over all of them.
  const needRaw1k = want('fanout-1k') || want('latency');
  if (needRaw1k) {
    for (let rep = 0; rep < options.repeat; rep++) {
      for (const target of targets) {
        if (!want('fanout-1k') && target.label !== 'raw-ws') continue;
        record('fanout-1k', target.label, await saturation(name(target), servers.get(target.label)!, SUBS_1K, 1));
      }
    }
  }
  if (want('burst')) {
    for (let rep = 0; rep < options.repeat; rep++) {
      for (const target of targets) record('burst', target.label, await saturation(name(target), servers.get(target.label)!, SUBS_1K, BURST));
    }
  }
  if (want('latency')) {
    const raw = median(samples.get(`fanout-1k\u0000raw-ws`)!.list, (s) => s.eventsPerSec ?? 0);
    const rate = process.env['BENCH_LATENCY_RATE'] ? Number(process.env['BENCH_LATENCY_RATE']) : (raw.eventsPerSec ?? 0) / 2;
    log(`latency at ${fmt(rate, 1)} events/s (half of raw-ws's saturation at 1k)`);
    for (let rep = 0; rep < options.repeat; rep++) {
      for (const target of targets) {
        const sample = await latency(name(target), servers.get(target.label)!, SUBS_1K, rate);
        const own = samples.get(`fanout-1k\u0000${target.label}`);
        const saturation = own === undefined ? undefined : median(own.list, (s) => s.eventsPerSec ?? 0).eventsPerSec;
        if (saturation !== undefined && saturation < rate) sample.note = `overloaded: above its own saturation (${fmt(saturation, 1)} events/s); ${sample.note ?? ''}`;
        record('latency', target.label, sample);
      }
    }
  }
  for (const target of targets) await disconnect(name(target), servers.get(target.label)!);
}

async function roundTrips(targets: Target[]): Promise<void> {
  const name = (t: Target) => `${t.label}:rt`;
  for (const target of targets) {
    await connect(name(target), target, servers.get(target.label) as ChildProc<{ port: number }>, SUBS_ROUNDTRIP);
    await loadgen.call('publisher', { name: name(target) });
  }
  for (let rep = 0; rep < options.repeat; rep++) {
    for (const target of targets) {
      const server = servers.get(target.label)!;
      await roundtrip(name(target), server, SUBS_ROUNDTRIP, cfg.warmMs);
      record('roundtrip', target.label, await roundtrip(name(target), server, SUBS_ROUNDTRIP, cfg.roundtripMs));
    }
  }
  for (const target of targets) await disconnect(name(target), servers.get(target.label)!);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn('taskset', ['-c', '1', 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  track(child);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('redis-server did not start');
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/** Publisher on instance A (core 1, light), subscribers on instance B (core 0), real Redis between them (core 1). */
async function crossInstance(targets: Target[]): Promise<void> {
  let redis: { url: string; stop: () => void };
  try {
    redis = await startRedis();
  } catch (error) {
    log(`cross-instance skipped: ${String(error)}`);
    return;
  }
  const runs: { label: string; target: Target }[] = [];
  for (const target of targets) {
    if (target.label === 'raw-ws' || target.label === 'trpc-pubsub' || target.label.startsWith('trpc-pubsub-proto')) runs.push({ label: target.label, target });
    if (target.label === 'socket.io') runs.push({ label: 'socket.io-redis', target });
  }
  try {
    for (const { label, target } of runs) {
      const name = `${label}:cross`;
      let a: ChildProc<{ port: number }> | undefined;
      let b: ChildProc<{ port: number }> | undefined;
      let stopRelay: (() => void) | undefined;
      try {
        try {
          b = await startServer(target, ['--redis', redis.url], 0, `${label} B`);
          a = await startServer(target, ['--redis', redis.url, '--role', 'publisher'], 1, `${label} A`);
        } catch (error) {
          const message = String(error);
          log(`cross-instance ${label}: could not start (${message.split('\n')[0]})`);
          record('cross-instance', label, { subscribers: SUBS_1K, complete: false, note: `TODO: ${message.includes('redisEngine') ? 'trpc-pubsub/redis does not export redisEngine yet' : message.split('\n')[0]}` });
          continue;
        }
        const publisher = a;
        await connect(name, target, b, SUBS_1K);
        await loadgen.call('track', { name, on: true });
        stopRelay = loadgen.onEvent((event) => {
          if (event.event === 'seq' && event['name'] === name) publisher.notify('ack', { seq: event['seq'] as number });
        });
        // Until one event makes it through (the broker subscription is asynchronous).
        let through = false;
        for (let i = 0; i < 40 && !through; i++) {
          through = (await publisher.call<{ drained: boolean }>('windowed', { durationMs: 1, window: 1, stallMs: 250 })).drained;
        }
        if (!through) throw new Error(`${label}: no event reached instance B`);
        for (let rep = 0; rep < options.repeat; rep++) {
          await publisher.call('windowed', { durationMs: cfg.warmMs, window: CROSS_WINDOW, stallMs: 3000 }, cfg.warmMs + 30_000);
          const cpu0 = await b.call<ServerClock>('cpu');
          await loadgen.call('countStart', { name });
          const w = await publisher.call<{ events: number; startUs: number; endUs: number; drained: boolean }>(
            'windowed',
            { durationMs: cfg.crossMs, window: CROSS_WINDOW, stallMs: 3000 },
            cfg.crossMs + 30_000,
          );
          const got = await loadgen.call<CountResult>('countWait', { name, target: w.events * SUBS_1K, idleMs: 2000, timeoutMs: 30_000 }, 40_000);
          const cpu1 = await b.call<ServerClock>('cpu');
          const spanUs = Math.max(got.lastUs, w.endUs) - w.startUs;
          const sample: Sample = {
            subscribers: SUBS_1K,
            deliveriesPerSec: (got.frames / spanUs) * 1e6,
            deliveriesPerCpuSec: (got.frames / (cpu1.cpuUs - cpu0.cpuUs)) * 1e6,
            eventsPerSec: (got.frames / SUBS_1K / spanUs) * 1e6,
            ...serverLoad(cpu0, cpu1),
            loadgenCpuPct: (got.cpuUs / got.cpuWallUs) * 100,
            complete: got.complete && w.drained && got.unexpectedCloses === 0,
            note: `window ${CROSS_WINDOW} events`,
          };
          if (!got.complete) sample.note += `; ${w.events * SUBS_1K - got.frames} frames missing`;
          record('cross-instance', label, sample);
        }
        await loadgen.call('track', { name, on: false });
        await loadgen.call('disconnect', { name });
      } catch (error) {
        log(`cross-instance ${label} failed: ${String(error)}`);
        record('cross-instance', label, { subscribers: SUBS_1K, complete: false, note: `failed: ${String(error).split('\n')[0]}` });
        await loadgen.call('disconnect', { name }).catch(() => undefined);
      } finally {
        stopRelay?.();
        await Promise.all([a?.stop(2000), b?.stop(2000)]);
      }
    }
  } finally {
    redis.stop();
  }
}

// ------------------------------------------------------------------ output

function median(list: Sample[], key: (s: Sample) => number): Sample {
  const sorted = [...list].sort((x, y) => key(x) - key(y));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Baselines whose ratios a scenario's rows report in their notes (Row.ratios, Row.ratiosPerCpu). */
const RATIO_BASELINES: Partial<Record<Scenario, string[]>> = {
  'many-channels': ['raw-ws', 'socket.io'],
  'sse-fanout-1k': ['trpc-pubsub'],
};

function buildRows(): Row[] {
  const rows: Row[] = [];
  for (const { scenario, system, list } of samples.values()) {
    const headline = (s: Sample) => headlineOf(scenario, s).value ?? Number.NaN;
    const valid = list.filter((s) => Number.isFinite(headline(s)));
    const chosen = valid.length > 0 ? median(valid, headline) : list[0]!;
    const values = valid.map(headline);
    const mid = headline(chosen);
    const row: Row = {
      scenario,
      system,
      subscribers: chosen.subscribers,
      deliveriesPerSec: chosen.deliveriesPerSec ?? null,
      deliveriesPerCpuSec: chosen.deliveriesPerCpuSec ?? null,
      eventsPerSec: chosen.eventsPerSec ?? null,
      kbPerSubscriber: chosen.kbPerSubscriber ?? null,
      heapKbPerSubscriber: chosen.heapKbPerSubscriber ?? null,
      connectsPerSec: chosen.connectsPerSec ?? null,
      p50Ms: chosen.p50Ms ?? null,
      p99Ms: chosen.p99Ms ?? null,
      maxMs: chosen.maxMs ?? null,
      headline: Number.isFinite(mid) ? mid : null,
      headlineUnit: headlineOf(scenario, chosen).unit,
      ratioToRaw: null,
      serverCpuPct: chosen.serverCpuPct ?? null,
      serverBusyPct: chosen.serverBusyPct ?? null,
      loadgenCpuPct: chosen.loadgenCpuPct ?? null,
      runs: list.length,
      spreadPct: values.length > 1 ? ((Math.max(...values) - Math.min(...values)) / mid) * 100 : null,
      complete: list.every((s) => s.complete),
    };
    if (chosen.note !== undefined) row.note = chosen.note;
    rows.push(row);
  }
  for (const row of rows) {
    const raw = rows.find((r) => r.scenario === row.scenario && r.system === 'raw-ws');
    if (raw?.headline != null && row.headline !== null) row.ratioToRaw = row.headline / raw.headline;
    for (const baseline of RATIO_BASELINES[row.scenario] ?? []) {
      if (baseline === row.system) continue;
      const other = rows.find((r) => r.scenario === row.scenario && r.system === baseline);
      if (other === undefined) continue;
      row.ratios ??= {};
      row.ratios[baseline] = other.headline != null && row.headline !== null ? row.headline / other.headline : null;
      row.ratiosPerCpu ??= {};
      row.ratiosPerCpu[baseline] =
        other.deliveriesPerCpuSec != null && row.deliveriesPerCpuSec !== null ? row.deliveriesPerCpuSec / other.deliveriesPerCpuSec : null;
    }
    if (row.scenario === 'cross-instance') {
      const singleName = row.system === 'socket.io-redis' ? 'socket.io' : row.system;
      const single = rows.find((r) => r.scenario === 'fanout-1k' && r.system === singleName);
      row.ratioToSingle = single?.deliveriesPerSec != null && row.deliveriesPerSec !== null ? row.deliveriesPerSec / single.deliveriesPerSec : null;
    }
  }
  const systemOrder = (system: string) => {
    const at = ['raw-ws', 'trpc-pubsub', 'trpc-pubsub-sse', 'trpc-by-hand', 'socket.io', 'socket.io-redis'].indexOf(system);
    return at === -1 ? 50 : at;
  };
  const order = (r: Row) => SCENARIOS.indexOf(r.scenario) * 100 + systemOrder(r.system);
  return rows.sort((x, y) => order(x) - order(y) || x.system.localeCompare(y.system));
}

function table(rows: Row[]): string {
  const head = [
    'scenario',
    'system',
    'subs',
    'headline',
    '× raw',
    'deliveries/s',
    'per server CPU-s',
    'events/s',
    'KB/sub',
    'p50 ms',
    'p99 ms',
    'max ms',
    'server CPU / busy',
    'loadgen CPU',
    'runs (spread)',
    'notes',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const baselineName = (system: string) => (system === 'trpc-pubsub' && r.scenario === 'sse-fanout-1k' ? 'trpc-pubsub over WebSocket' : system);
    const ratios = Object.entries(r.ratios ?? {}).map(
      ([system, ratio]) => `**${fmt(ratio, 2)}× ${baselineName(system)}** (${fmt(r.ratiosPerCpu?.[system], 2)}× per server CPU-s)`,
    );
    const notes = [r.complete ? '' : '**incomplete**', ...ratios, r.ratioToSingle != null ? `${fmt(r.ratioToSingle, 2)}× own fanout-1k` : '', r.note ?? '']
      .filter((x) => x !== '')
      .join('; ');
    lines.push(
      `| ${[
        r.scenario,
        r.system,
        fmt(r.subscribers, 0),
        `${fmt(r.headline)} ${r.headlineUnit}`,
        r.ratioToRaw === null ? '–' : `${fmt(r.ratioToRaw, 2)}×`,
        fmt(r.deliveriesPerSec, 0),
        fmt(r.deliveriesPerCpuSec, 0),
        fmt(r.eventsPerSec, 1),
        fmt(r.kbPerSubscriber, 1),
        fmt(r.p50Ms),
        fmt(r.p99Ms),
        fmt(r.maxMs),
        r.serverCpuPct === null ? '–' : `${fmt(r.serverCpuPct, 0)}% / ${fmt(r.serverBusyPct, 0)}%`,
        r.loadgenCpuPct === null ? '–' : `${fmt(r.loadgenCpuPct, 0)}%`,
        r.spreadPct === null ? String(r.runs) : `${r.runs} (±${fmt(r.spreadPct / 2, 0)}%)`,
        notes.replace(/\|/g, '/'),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

function machine(): string {
  let model = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    const lscpu = execFileSync('lscpu', { encoding: 'utf8' });
    model = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? model;
  } catch {
    // lscpu missing: keep os.cpus().
  }
  let commit = 'unknown commit';
  // BENCH_NO_GIT=1: leave git alone (someone else is working in the checkout).
  try {
    if (process.env['BENCH_NO_GIT'] === '1') throw new Error('BENCH_NO_GIT');
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'client'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    commit = `trpc-pubsub ${sha}${dirty ? ' + uncommitted src changes' : ''}`;
  } catch {
    // Not a git checkout, or BENCH_NO_GIT=1.
  }
  return `${os.cpus().length} × ${model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}, ${commit}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

// -------------------------------------------------------------------- main

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    log(`time budget of ${cfg.budgetMs / 1000} s exceeded: stopping`);
    killAll();
    process.exit(1);
  }, cfg.budgetMs + 60_000);
  watchdog.unref();
  const machineLine = machine();
  log(options.source ? 'trpc-pubsub from src/ through tsx (--source)' : 'building trpc-pubsub with tsc into bench/out/dist');
  libraryEnv = buildLibrary(options.source);
  log(`${options.quick ? 'quick' : 'full'} run, ${options.repeat} repetition(s); ${machineLine}`);
  log(
    `systems: ${options.targets.map((t) => t.label).join(', ')}; scenarios: ${[...options.scenarios, ...options.durability, ...(options.fairness ? [FAIRNESS_SCENARIO] : []), ...(options.presence ? [PRESENCE_SCENARIO] : [])].join(', ')}`,
  );

  // Durability, fairness and sse-fanout-1k start their own servers.
  const classic = [...options.scenarios].some((s) => s !== 'sse-fanout-1k') ? options.targets : [];
  const [lg, ...startedServers] = await Promise.all([
    ChildProc.start({ name: 'loadgen', script: 'bench/loadgen.ts', cpu: 1 }),
    ...classic.map((target) => startServer(target)),
  ]);
  loadgen = lg!;
  classic.forEach((target, i) => servers.set(target.label, startedServers[i]!));

  if (want('memory') || want('connect') || want('fanout-10k')) {
    for (const target of options.targets) {
      log(`10k subscribers: ${target.label}`);
      await tenThousand(target);
    }
  }
  if (want('memory') && options.repeat > 1) {
    log(`memory: ${options.repeat - 1} more sample(s) per system, each on a fresh server`);
    await moreMemorySamples(options.targets);
  }
  if (want('fanout-1k') || want('burst') || want('latency')) {
    log('1k subscribers');
    await oneThousand(options.targets);
  }
  if (want('roundtrip')) {
    log('client-to-client round trips');
    await roundTrips(options.targets);
  }
  if (want('many-channels')) {
    await runManyChannels({
      repeat: options.repeat,
      targets: options.targets.filter(hasRooms),
      server: (target) => servers.get(target.label)! as ChildProc<{ port: number }>,
      connect,
      saturation,
      latency,
      disconnect,
      record: (system, sample) => record('many-channels', system, sample),
      log,
    });
  }
  await Promise.all([...servers.values()].map((server) => server.stop(3000)));
  servers.clear();
  if (want('cross-instance')) {
    log('cross-instance through Redis');
    await crossInstance(options.targets);
  }
  if (want('sse-fanout-1k')) {
    await runSseFanout({
      repeat: options.repeat,
      ws: BASE_TARGETS['trpc-pubsub']!,
      startServer: (target, name) => startServer(target, [], 0, name),
      connect: (name, target, server, n) => connect(name, target, server, n),
      saturation: (name, server, subscribers, perTurn) => saturation(name, server, subscribers, perTurn),
      latency: (name, server, subscribers, rate) => latency(name, server, subscribers, rate),
      disconnect,
      record: (system, sample) => record('sse-fanout-1k', system, sample),
      log,
    });
  }
  let durabilityRows: DurabilityRow[] = [];
  if (options.durability.size > 0) {
    log(`durability: ${[...options.durability].join(', ')}`);
    durabilityRows = await runDurability({
      quick: options.quick,
      repeat: options.repeat,
      scenarios: options.durability,
      loadgen,
      libraryEnv,
      serverFlags: SERVER_NODE_FLAGS,
      log,
    });
  }
  let fairnessRows: FairnessRow[] = [];
  if (options.fairness) {
    log('fairness: a flooding connection against a probe stream');
    fairnessRows = await runFairness({ quick: options.quick, libraryEnv, serverFlags: SERVER_NODE_FLAGS, log });
  }
  let presenceRows: PresenceRow[] = [];
  if (options.presence) {
    presenceRows = await runPresenceChurn({ quick: options.quick, repeat: options.repeat, loadgen, libraryEnv, serverFlags: SERVER_NODE_FLAGS, log });
  }
  await loadgen.stop(2000);

  const rows = buildRows().filter((row) => options.scenarios.has(row.scenario));
  const tables = [
    rows.length > 0 ? table(rows) : '',
    durabilityRows.length > 0 ? `Durability\n\n${durabilityTable(durabilityRows)}` : '',
    fairnessRows.length > 0 ? `Fairness\n\n${fairnessTable(fairnessRows)}` : '',
    presenceRows.length > 0 ? `Presence churn\n\n${presenceTable(presenceRows)}` : '',
  ].filter((t) => t !== '');
  const markdown = `Machine: ${machineLine}\nRun: ${options.quick ? '--quick' : 'full'}, ${options.repeat} repetition(s), trpc-pubsub ${options.source ? 'from src/ via tsx' : 'tsc build'}, ${new Date().toISOString()}\n\n${tables.join('\n\n')}\n`;
  process.stdout.write(`\n${markdown}`);
  const out = join(ROOT, 'bench', 'out');
  const allRows: (Row | DurabilityRow | FairnessRow | PresenceRow)[] = [...rows, ...durabilityRows, ...fairnessRows, ...presenceRows];
  write(join(out, options.quick ? 'last-quick.json' : 'last-full.json'), `${JSON.stringify(allRows, null, 2)}\n`);
  write(join(out, options.quick ? 'last-quick.md' : 'last-full.md'), markdown);
  if (options.json !== undefined) write(options.json, `${JSON.stringify(allRows, null, 2)}\n`);
  if (options.markdown !== undefined) write(options.markdown, markdown);
  if (rows.some((r) => r.scenario.startsWith('fanout'))) {
    write(options.chart ?? join(out, 'chart.svg'), renderChart(rows, machineLine.replace(/, load average.*$/, '')));
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

try {
  await main();
} catch (error) {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  killAll();
  process.exit(1);
}
killAll();
process.exit(0);
