/**
 * Durability scenarios of `npm run bench` (history and resume), each
 * measured beside its own baseline in the same run and reported as a ratio:
 *
 * - `publish-history`: acknowledged publishes per second on the Redis
 *   engine with a topic that keeps history (Redis Streams, Lua append +
 *   publish) and without (`PUBLISH`); the same on PostgreSQL (insert + trim
 *   + `NOTIFY` in one transaction, against `NOTIFY` alone).
 * - `fanout-history`: cross-instance fan-out to 1,000 subscribers (publisher
 *   on instance A, subscribers on instance B, Redis between them) on a
 *   history topic, against one instance on the memory engine without
 *   history (fanout-1k's set-up); cross-instance without history too.
 * - `resume-latency`: one subscriber on the library's client drops its
 *   socket while events flow; time from the drop to the first event after
 *   the reconnect (the first replayed one), p50/p99 over the drops; Redis
 *   engine, and the memory engine for reference.
 * - `reconnect-storm`: 10,000 resuming subscribers (bench/lib/resume-clients.ts,
 *   the real protocol with `lastEventId`) on instance A, events flowing from
 *   a third instance; A is SIGKILLed, everyone reconnects to instance B; time
 *   until the last subscriber is live again, lost and duplicate events, and
 *   the broker's load meanwhile (INFO commandstats, instantaneous ops/s,
 *   redis-server CPU).
 *
 * Processes: servers under test on core 0, the load generator, the brokers,
 * publishing instances and the resume client on core 1.
 */
import { startPostgres, startRedis, type PrivatePostgres, type PrivateRedis } from './lib/brokers.js';
import type { LibraryEnv } from './lib/build.js';
import { nowUs, sleep } from './lib/clock.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildProc, ROOT } from './lib/ipc.js';
import type { DurabilityScenario } from './lib/systems.js';
import type { SaturateResult } from './servers/common.js';

/** One row of the Durability table (and of `--json`). */
export interface DurabilityRow {
  scenario: DurabilityScenario;
  /** The configuration measured, e.g. `redis, history 1000`. */
  system: string;
  subscribers: number;
  headline: number | null;
  headlineUnit: string;
  /** headline ÷ the baseline row's (`ratioTo`), for throughput rows. */
  ratio: number | null;
  ratioTo: string | null;
  /** Throughput rows: events or deliveries per second of the server's CPU time (median over the runs; robust to other processes taking its core). */
  perCpuSec: number | null;
  /** perCpuSec ÷ the baseline row's. */
  ratioPerCpu: number | null;
  goal: string | null;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  serverCpuPct: number | null;
  /** Event-loop utilization of the server under test, % (100 = saturated; above its CPU % when another process took its core). */
  serverBusyPct: number | null;
  brokerCpuPct: number | null;
  runs: number;
  spreadPct: number | null;
  complete: boolean;
  note?: string;
}

/** What bench/run.ts hands over. */
export interface DurabilityContext {
  quick: boolean;
  repeat: number;
  scenarios: ReadonlySet<string>;
  loadgen: ChildProc;
  libraryEnv: LibraryEnv;
  serverFlags: string[];
  log(message: string): void;
}

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

/** The kernel's count of connections dropped because a listen queue was full (machine-wide, /proc/net/netstat); NaN when unreadable. */
function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(' ');
      const values = lines[i + 1]!.split(' ');
      const at = names.indexOf('ListenOverflows');
      if (names[0] === 'TcpExt:' && at !== -1) return Number(values[at]);
    }
  } catch {
    // not Linux
  }
  return Number.NaN;
}

/** Event-loop utilization between two `cpu` readings, %. */
function busy(a: ServerClock, b: ServerClock): number {
  const active = b.activeMs - a.activeMs;
  const idle = b.idleMs - a.idleMs;
  return (active / (active + idle)) * 100;
}

const HISTORY = Number(process.env['BENCH_HISTORY_EVENTS'] ?? 1000);
const INFLIGHT = Number(process.env['BENCH_PUBLISH_INFLIGHT'] ?? 64);
const CROSS_WINDOW = Number(process.env['BENCH_CROSS_WINDOW'] ?? 2);
const RESUME_RATE = Number(process.env['BENCH_RESUME_RATE'] ?? 500);
const RESUME_DROPS = Number(process.env['BENCH_RESUME_DROPS'] ?? 200);
const STORM_SUBS = Number(process.env['BENCH_STORM_SUBS'] ?? 10_000);
const STORM_RATE = Number(process.env['BENCH_STORM_RATE'] ?? 5);
const STORM_JITTER_MS = Number(process.env['BENCH_STORM_JITTER_MS'] ?? 1000);
/**
 * How instance B and the clients are set up (BENCH_STORM_VARIANTS, comma-separated):
 * `listen` B from `server.listen()` (Node's listen backlog, 511), clients reconnect at once
 * (wsLink's first attempt); `backlog` B on an `http.Server` listening with backlog 4096
 * (`attach()`); `jitter` as `listen`, each client's first attempt after a random
 * 0–BENCH_STORM_JITTER_MS ms.
 */
const STORM_VARIANT_TABLE: Record<string, { label: string; bArgs: string[]; jitterMs: number }> = {
  listen: { label: 'listen() (default backlog, 4096 since 2026-12-03)', bArgs: [], jitterMs: 0 },
  backlog: { label: 'backlog 4096', bArgs: ['--backlog', '4096'], jitterMs: 0 },
  jitter: { label: `listen() (default backlog, 4096 since 2026-12-03), client jitter 0–${STORM_JITTER_MS} ms`, bArgs: [], jitterMs: STORM_JITTER_MS },
};
const STORM_VARIANTS = (process.env['BENCH_STORM_VARIANTS'] ?? 'listen,backlog').split(',').filter((v) => v !== '');
const SUBS_1K = 1000;
/** BENCH_DURABILITY_PROFILE=1: V8 CPU profiles of the servers under test (publish-history's last run of each configuration, reconnect-storm's B) in bench/out/profiles/. */
const PROFILE = process.env['BENCH_DURABILITY_PROFILE'] === '1';
const PROFILE_DIR = join(ROOT, 'bench', 'out', 'profiles');

async function profiled<T>(server: ChildProc, on: boolean, file: string, run: () => Promise<T>): Promise<T> {
  if (!on) return run();
  mkdirSync(PROFILE_DIR, { recursive: true });
  await server.call('profileStart', { intervalUs: 200 });
  try {
    return await run();
  } finally {
    await server.call('profileStop', { file: join(PROFILE_DIR, `${file.replace(/[^A-Za-z0-9.-]+/g, '-')}.cpuprofile`) });
  }
}

function fmt(value: number | null | undefined, digits?: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

function medianOf<T>(list: T[], key: (x: T) => number): T {
  const sorted = [...list].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function spread(values: number[]): number | null {
  if (values.length < 2) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return ((sorted[sorted.length - 1]! - sorted[0]!) / mid) * 100;
}

function emptyRow(scenario: DurabilityScenario, system: string, subscribers: number, unit: string): DurabilityRow {
  return {
    scenario,
    system,
    subscribers,
    headline: null,
    headlineUnit: unit,
    ratio: null,
    ratioTo: null,
    perCpuSec: null,
    ratioPerCpu: null,
    goal: null,
    p50Ms: null,
    p99Ms: null,
    maxMs: null,
    serverCpuPct: null,
    serverBusyPct: null,
    brokerCpuPct: null,
    runs: 0,
    spreadPct: null,
    complete: false,
  };
}

/** Throughput samples of one configuration: the row is the median run. */
interface ThroughputSample {
  perSec: number;
  perCpuSec: number;
  serverCpuPct: number;
  serverBusyPct: number;
  brokerCpuPct: number | null;
  complete: boolean;
  note?: string;
}

function throughputRow(scenario: DurabilityScenario, system: string, subscribers: number, unit: string, list: ThroughputSample[]): DurabilityRow {
  const row = emptyRow(scenario, system, subscribers, unit);
  if (list.length === 0) return row;
  const mid = medianOf(list, (s) => s.perSec);
  row.headline = mid.perSec;
  row.perCpuSec = medianOf(list, (s) => s.perCpuSec).perCpuSec;
  row.serverCpuPct = mid.serverCpuPct;
  row.serverBusyPct = mid.serverBusyPct;
  row.brokerCpuPct = mid.brokerCpuPct;
  row.runs = list.length;
  row.spreadPct = spread(list.map((s) => s.perSec));
  row.complete = list.every((s) => s.complete);
  if (mid.note !== undefined) row.note = mid.note;
  return row;
}

function withRatio(row: DurabilityRow, baseline: DurabilityRow, goal: string): DurabilityRow {
  row.ratioTo = baseline.system;
  row.goal = goal;
  row.ratio = row.headline !== null && baseline.headline !== null ? row.headline / baseline.headline : null;
  row.ratioPerCpu = row.perCpuSec !== null && baseline.perCpuSec !== null ? row.perCpuSec / baseline.perCpuSec : null;
  return row;
}

/** Runs the selected durability scenarios; returns their rows. */
export async function runDurability(ctx: DurabilityContext): Promise<DurabilityRow[]> {
  const { loadgen, log } = ctx;
  const warmMs = ctx.quick ? 300 : 1000;
  const measureMs = ctx.quick ? 1200 : 4000;
  const rows: DurabilityRow[] = [];
  const want = (s: DurabilityScenario) => ctx.scenarios.has(s);

  const startPubSub = (name: string, args: string[], cpu: number) =>
    ChildProc.start<{ port: number }>({
      name,
      script: 'bench/servers/trpc-pubsub.ts',
      cpu,
      nodeArgs: [...ctx.serverFlags],
      args,
      env: ctx.libraryEnv,
    });

  const connect = async (name: string, server: ChildProc<{ port: number }>, n: number) => {
    const r = await loadgen.call<{ opened: number; failed: number; firstError?: string; ms: number }>(
      'connect',
      { name, protocol: 'trpc', port: server.info.port, n, concurrency: 100, timeoutMs: 20_000 },
      180_000,
    );
    if (r.failed > 0) throw new Error(`${name}: ${r.failed} of ${n} subscribers failed: ${r.firstError}`);
    await server.call('waitSubscribers', { n, timeoutMs: 20_000 }, 30_000);
  };

  // ------------------------------------------------------- publish-history
  if (want('publish-history')) {
    log(`publish-history: acknowledged publishes, ${INFLIGHT} in flight, history ${HISTORY} vs none`);
    const redis = await startRedis(1);
    let postgres: PrivatePostgres | undefined;
    try {
      postgres = await startPostgres(1);
    } catch (error) {
      log(`publish-history: no private PostgreSQL (${String(error).split('\n')[0]}): Redis only`);
    }
    const configs: { label: string; args: string[]; broker: PrivateRedis | PrivatePostgres; base?: string }[] = [
      { label: 'redis, no history', args: ['--redis', redis.url, '--prefix', 'ph-plain'], broker: redis },
      { label: `redis, history ${HISTORY}`, args: ['--redis', redis.url, '--prefix', 'ph-hist', '--history', String(HISTORY)], broker: redis, base: 'redis, no history' },
    ];
    if (postgres !== undefined) {
      configs.push(
        { label: 'postgres, no history', args: ['--postgres', postgres.url, '--prefix', 'ph-plain'], broker: postgres },
        { label: `postgres, history ${HISTORY}`, args: ['--postgres', postgres.url, '--prefix', 'ph-hist', '--history', String(HISTORY)], broker: postgres, base: 'postgres, no history' },
      );
    }
    const servers = new Map<string, ChildProc<{ port: number }>>();
    const results = new Map<string, ThroughputSample[]>();
    try {
      for (const config of configs) {
        const server = await startPubSub(`ph ${config.label}`, config.args, 0);
        servers.set(config.label, server);
        results.set(config.label, []);
        // One subscriber on the publishing instance: every acknowledged event must come back through the broker.
        await connect(`ph:${config.label}`, server, 1);
        await server.call('acked', { durationMs: warmMs, inflight: INFLIGHT }, warmMs + 60_000);
      }
      for (let rep = 0; rep < ctx.repeat; rep++) {
        for (const config of configs) {
          const server = servers.get(config.label)!;
          const name = `ph:${config.label}`;
          await loadgen.call('countStart', { name });
          const broker0 = config.broker.cpuUs();
          const r = await profiled(server, PROFILE && rep === ctx.repeat - 1, `publish-history ${config.label}`, () =>
            server.call<{ events: number; errors: number; firstError?: string; startUs: number; endUs: number; cpuUs: number; elu: number }>(
              'acked',
              { durationMs: measureMs, inflight: INFLIGHT },
              measureMs + 60_000,
            ),
          );
          const broker1 = config.broker.cpuUs();
          const got = await loadgen.call<CountResult>('countWait', { name, target: r.events, idleMs: 2000, timeoutMs: 30_000 }, 40_000);
          const wallUs = r.endUs - r.startUs;
          const sample: ThroughputSample = {
            perSec: (r.events / wallUs) * 1e6,
            perCpuSec: (r.events / r.cpuUs) * 1e6,
            serverCpuPct: (r.cpuUs / wallUs) * 100,
            serverBusyPct: r.elu * 100,
            brokerCpuPct: ((broker1 - broker0) / wallUs) * 100,
            complete: r.errors === 0 && got.frames >= r.events,
            note: `${INFLIGHT} in flight; ${fmt(r.events, 0)} acknowledged, ${fmt(got.frames, 0)} delivered back`,
          };
          if (r.errors > 0) sample.note += `; ${r.errors} publish errors (${r.firstError?.split('\n')[0]})`;
          results.get(config.label)!.push(sample);
          log(`  publish-history ${config.label.padEnd(24)} ${fmt(sample.perSec, 0)} events/s, server CPU ${fmt(sample.serverCpuPct, 0)}%, broker CPU ${fmt(sample.brokerCpuPct, 0)}%`);
        }
      }
    } finally {
      for (const config of configs) await loadgen.call('disconnect', { name: `ph:${config.label}` }).catch(() => undefined);
      await Promise.all([...servers.values()].map((s) => s.stop(3000)));
      await redis.stop();
      await postgres?.stop();
    }
    const byLabel = new Map<string, DurabilityRow>();
    for (const config of configs) {
      const row = throughputRow('publish-history', config.label, 1, 'events/s', results.get(config.label)!);
      byLabel.set(config.label, row);
      if (config.base !== undefined) withRatio(row, byLabel.get(config.base)!, '≥ 0.7×');
      rows.push(row);
    }
  }

  // -------------------------------------------------------- fanout-history
  if (want('fanout-history')) {
    log(`fanout-history: ${SUBS_1K} subscribers; cross-instance through Redis (history ${HISTORY}, and none) vs one instance, memory engine, no history`);
    const redis = await startRedis(1);
    const single = await startPubSub('fh single', [], 0);
    const pairs: { label: string; a: ChildProc<{ port: number }>; b: ChildProc<{ port: number }> }[] = [];
    const results = new Map<string, ThroughputSample[]>();
    const singleLabel = 'one instance, memory, no history';
    results.set(singleLabel, []);
    const stops: (() => void)[] = [];
    try {
      for (const [label, extra] of [
        [`A → B via redis, history ${HISTORY}`, ['--prefix', 'fh-hist', '--history', String(HISTORY)]],
        ['A → B via redis, no history', ['--prefix', 'fh-plain']],
      ] as const) {
        const b = await startPubSub(`fh B ${label}`, ['--redis', redis.url, ...extra], 0);
        const a = await startPubSub(`fh A ${label}`, ['--redis', redis.url, '--role', 'publisher', ...extra], 1);
        pairs.push({ label, a, b });
        results.set(label, []);
      }
      await connect('fh:single', single, SUBS_1K);
      for (const { label, a, b } of pairs) {
        const name = `fh:${label}`;
        await connect(name, b, SUBS_1K);
        await loadgen.call('track', { name, on: true });
        stops.push(
          loadgen.onEvent((event) => {
            if (event.event === 'seq' && event['name'] === name) a.notify('ack', { seq: event['seq'] as number });
          }),
        );
        let through = false;
        for (let i = 0; i < 40 && !through; i++) through = (await a.call<{ drained: boolean }>('windowed', { durationMs: 1, window: 1, stallMs: 250 })).drained;
        if (!through) throw new Error(`fanout-history ${label}: no event reached instance B`);
        await a.call('windowed', { durationMs: warmMs, window: CROSS_WINDOW, stallMs: 3000 }, warmMs + 30_000);
      }
      // Warm-up of the single instance (drained, not counted).
      const saturation = async (ms: number) => {
        await loadgen.call('countStart', { name: 'fh:single' });
        const cpu0 = await single.call<ServerClock>('cpu');
        const sat = await single.call<SaturateResult>('saturate', { durationMs: ms, perTurn: 1 }, ms + 30_000);
        const got = await loadgen.call<CountResult>('countWait', { name: 'fh:single', target: sat.events * SUBS_1K, idleMs: 3000, timeoutMs: 120_000 }, 130_000);
        const cpu1 = await single.call<ServerClock>('cpu');
        const spanUs = Math.max(got.lastUs, sat.endUs) - sat.startUs;
        return {
          perSec: (got.frames / spanUs) * 1e6,
          // Like B's below: CPU from before the first publish to after the last frame arrived.
          perCpuSec: (got.frames / (cpu1.cpuUs - cpu0.cpuUs)) * 1e6,
          serverCpuPct: (sat.cpuUs / (sat.endUs - sat.startUs)) * 100,
          serverBusyPct: sat.elu * 100,
          brokerCpuPct: null,
          complete: got.complete && got.unexpectedCloses === 0,
          note: 'one publish per loop turn (fanout-1k)',
        } satisfies ThroughputSample;
      };
      await saturation(warmMs);
      for (let rep = 0; rep < ctx.repeat; rep++) {
        const s = await saturation(measureMs);
        results.get(singleLabel)!.push(s);
        log(`  fanout-history ${singleLabel.padEnd(34)} ${fmt(s.perSec, 0)} deliveries/s`);
        for (const { label, a, b } of pairs) {
          const name = `fh:${label}`;
          const cpu0 = await b.call<ServerClock>('cpu');
          const broker0 = redis.cpuUs();
          await loadgen.call('countStart', { name });
          const w = await a.call<{ events: number; startUs: number; endUs: number; drained: boolean }>(
            'windowed',
            { durationMs: measureMs, window: CROSS_WINDOW, stallMs: 3000 },
            measureMs + 30_000,
          );
          const got = await loadgen.call<CountResult>('countWait', { name, target: w.events * SUBS_1K, idleMs: 2000, timeoutMs: 30_000 }, 40_000);
          const cpu1 = await b.call<ServerClock>('cpu');
          const broker1 = redis.cpuUs();
          const spanUs = Math.max(got.lastUs, w.endUs) - w.startUs;
          const sample: ThroughputSample = {
            perSec: (got.frames / spanUs) * 1e6,
            perCpuSec: (got.frames / (cpu1.cpuUs - cpu0.cpuUs)) * 1e6,
            serverCpuPct: ((cpu1.cpuUs - cpu0.cpuUs) / (cpu1.nowUs - cpu0.nowUs)) * 100,
            serverBusyPct: busy(cpu0, cpu1),
            brokerCpuPct: ((broker1 - broker0) / (cpu1.nowUs - cpu0.nowUs)) * 100,
            complete: got.complete && w.drained && got.unexpectedCloses === 0,
            note: `window ${CROSS_WINDOW} events; B's CPU`,
          };
          if (!got.complete) sample.note += `; ${w.events * SUBS_1K - got.frames} frames missing`;
          results.get(label)!.push(sample);
          log(`  fanout-history ${label.padEnd(34)} ${fmt(sample.perSec, 0)} deliveries/s, B CPU ${fmt(sample.serverCpuPct, 0)}%`);
        }
      }
    } finally {
      for (const stop of stops) stop();
      await loadgen.call('disconnect', { name: 'fh:single' }).catch(() => undefined);
      for (const { label } of pairs) await loadgen.call('disconnect', { name: `fh:${label}` }).catch(() => undefined);
      await Promise.all([single.stop(3000), ...pairs.flatMap(({ a, b }) => [a.stop(3000), b.stop(3000)])]);
      await redis.stop();
    }
    const base = throughputRow('fanout-history', singleLabel, SUBS_1K, 'deliveries/s', results.get(singleLabel)!);
    rows.push(base);
    for (const { label } of pairs) rows.push(withRatio(throughputRow('fanout-history', label, SUBS_1K, 'deliveries/s', results.get(label)!), base, label.includes('history') && !label.includes('no history') ? '≥ 0.8×' : '–'));
  }

  // -------------------------------------------------------- resume-latency
  if (want('resume-latency')) {
    const drops = ctx.quick ? Math.min(RESUME_DROPS, 60) : RESUME_DROPS;
    log(`resume-latency: ${drops} socket drops of one createPubSubClient subscriber, ${RESUME_RATE} events/s flowing`);
    const redis = await startRedis(1);
    try {
      for (const [label, args] of [
        [`redis, history ${HISTORY}`, ['--redis', redis.url, '--prefix', 'rl', '--history', String(HISTORY)]],
        [`memory, history ${HISTORY}`, ['--history', String(HISTORY)]],
      ] as const) {
        const server = await startPubSub(`rl ${label}`, [...args], 0);
        const client = await ChildProc.start({ name: 'resume-client', script: 'bench/resume-client.ts', cpu: 1, env: ctx.libraryEnv });
        const row = emptyRow('resume-latency', label, 1, 'p99 ms');
        try {
          const cpu0 = await server.call<ServerClock>('cpu');
          await server.call('flowStart', { eventsPerSec: RESUME_RATE });
          await client.call('start', { url: `ws://127.0.0.1:${server.info.port}/trpc` }, 30_000);
          const r = await client.call<{
            drops: number;
            timeouts: number;
            contiguous: number;
            all: { n: number; p50Ms: number; p99Ms: number; maxMs: number };
            replayed: { n: number; p50Ms: number; p99Ms: number; maxMs: number };
          }>('drops', { n: drops, pauseMinMs: 20, pauseMaxMs: 60, timeoutMs: 5000 }, drops * 6000 + 30_000);
          const flow = await server.call<{ lastSeq: number }>('flowStop');
          const cpu1 = await server.call<ServerClock>('cpu');
          // Let the tail arrive, then count.
          let totals = await client.call<{ events: number; lastSeq: number; lost: number; duplicates: number; gaps: number }>('totals');
          for (let i = 0; i < 50 && totals.lastSeq < flow.lastSeq; i++) {
            await sleep(20);
            totals = await client.call('totals');
          }
          const lost = totals.lost + Math.max(0, flow.lastSeq - totals.lastSeq);
          row.headline = r.replayed.p99Ms;
          row.p50Ms = r.replayed.p50Ms;
          row.p99Ms = r.replayed.p99Ms;
          row.maxMs = r.replayed.maxMs;
          row.serverCpuPct = ((cpu1.cpuUs - cpu0.cpuUs) / (cpu1.nowUs - cpu0.nowUs)) * 100;
          row.serverBusyPct = busy(cpu0, cpu1);
          row.runs = 1;
          row.complete = r.timeouts === 0 && lost === 0 && totals.duplicates === 0 && totals.gaps === 0;
          row.note =
            `${r.drops} drops, ${r.replayed.n} first events replayed (all drops: p50 ${fmt(r.all.p50Ms)} p99 ${fmt(r.all.p99Ms)} ms), ` +
            `${r.contiguous}/${r.drops} contiguous; ${fmt(totals.events, 0)} events, lost ${lost}, duplicates ${totals.duplicates}, gaps ${totals.gaps}` +
            (r.timeouts > 0 ? `, ${r.timeouts} timeouts` : '');
          log(`  resume-latency ${label.padEnd(22)} replayed p50 ${fmt(r.replayed.p50Ms)} p99 ${fmt(r.replayed.p99Ms)} max ${fmt(r.replayed.maxMs)} ms (${row.note})`);
          await client.call('stop');
        } catch (error) {
          row.note = `failed: ${String(error).split('\n')[0]}`;
          log(`  resume-latency ${label}: ${row.note}`);
          await server.call('flowStop').catch(() => undefined);
        } finally {
          await client.stop(2000);
          await server.stop(3000);
        }
        rows.push(row);
      }
    } finally {
      await redis.stop();
    }
  }

  // ------------------------------------------------------- reconnect-storm
  if (want('reconnect-storm')) {
    const reps = ctx.quick ? 1 : Math.min(ctx.repeat, 3);
    const variants = STORM_VARIANTS.map((v) => {
      const variant = STORM_VARIANT_TABLE[v];
      if (variant === undefined) throw new Error(`BENCH_STORM_VARIANTS: unknown variant ${v} (${Object.keys(STORM_VARIANT_TABLE).join(', ')})`);
      return variant;
    });
    log(`reconnect-storm: ${STORM_SUBS} resuming subscribers on A, ${STORM_RATE} events/s, SIGKILL A, all to B; ${variants.map((v) => v.label).join(' / ')}; ${reps} run(s) each`);
    const samples = new Map<string, { liveMaxMs: number; row: DurabilityRow }[]>(variants.map((v) => [v.label, []]));
    // Repetitions interleave the variants, so that noise from other processes spreads over all of them.
    for (let rep = 0; rep < reps; rep++) for (const variant of variants) {
      const redis = await startRedis(1);
      const args = ['--redis', redis.url, '--prefix', 'rs', '--history', String(HISTORY)];
      const row = emptyRow('reconnect-storm', `redis, history ${HISTORY}, A → B, ${variant.label}`, STORM_SUBS, 'ms until the last is live');
      const name = `rs:${rep}:${variant.label}`;
      const [a, b, p] = await Promise.all([
        startPubSub('rs A', args, 0),
        startPubSub('rs B', [...args, ...variant.bArgs], 0),
        startPubSub('rs publisher', [...args, '--role', 'publisher'], 1),
      ]);
      let sampler: NodeJS.Timeout | undefined;
      try {
        const c = await loadgen.call<{ failed: number; firstError?: string; ms: number }>(
          'resumeConnect',
          { name, port: a.info.port, n: STORM_SUBS, concurrency: 100, timeoutMs: 20_000 },
          180_000,
        );
        if (c.failed > 0) throw new Error(`${c.failed} subscribers failed to connect to A: ${c.firstError}`);
        await a.call('waitSubscribers', { n: STORM_SUBS, timeoutMs: 20_000 }, 30_000);
        await p.call('flowStart', { eventsPerSec: STORM_RATE });
        const first = await loadgen.call<{ count: number; of: number }>('resumeWait', { name, until: 'event', timeoutMs: 20_000 }, 30_000);
        if (first.count < first.of) throw new Error(`only ${first.count} of ${first.of} subscribers got an event from A`);
        await sleep(1000);
        await loadgen.call('resumeFailover', { name, port: b.info.port, jitterMs: variant.jitterMs });
        // Broker load: commandstats before and after, ops/s and CPU sampled every 100 ms.
        const stats0 = await redis.info('commandstats');
        const info0 = await redis.info('stats');
        const ops: number[] = [];
        const cpuSamples: { us: number; cpu: number }[] = [];
        let peakCpuPct = 0;
        sampler = setInterval(() => {
          const us = nowUs();
          const cpu = redis.cpuUs();
          const prev = cpuSamples[cpuSamples.length - 1];
          if (prev !== undefined) peakCpuPct = Math.max(peakCpuPct, ((cpu - prev.cpu) / (us - prev.us)) * 100);
          cpuSamples.push({ us, cpu });
          void redis.info('stats').then(
            (s) => ops.push(Number(s['instantaneous_ops_per_sec'])),
            () => undefined,
          );
        }, 100);
        const bCpu0 = await b.call<ServerClock>('cpu');
        const lgCpu0 = await loadgen.call<{ cpuUs: number }>('cpu');
        const brokerCpu0 = redis.cpuUs();
        const overflows0 = listenOverflows();
        if (PROFILE) {
          mkdirSync(PROFILE_DIR, { recursive: true });
          await b.call('profileStart', { intervalUs: 200 });
        }
        const t0 = nowUs();
        a.child.kill('SIGKILL');
        const live = await loadgen.call<{ count: number; of: number }>('resumeWait', { name, until: 'live', timeoutMs: 60_000 }, 70_000);
        if (PROFILE) await b.call('profileStop', { file: join(PROFILE_DIR, `reconnect-storm-B-${variant.label}-${rep + 1}.cpuprofile`) });
        const t1 = nowUs();
        clearInterval(sampler);
        sampler = undefined;
        const brokerCpu1 = redis.cpuUs();
        const overflows1 = listenOverflows();
        const bCpu1 = await b.call<ServerClock>('cpu');
        const lgCpu1 = await loadgen.call<{ cpuUs: number }>('cpu');
        const stats1 = await redis.info('commandstats');
        const info1 = await redis.info('stats');
        const report = await loadgen.call<{
          closed: { p50Ms: number; maxMs: number };
          started: { n: number; p50Ms: number; p99Ms: number; maxMs: number };
          resumed: { n: number; p50Ms: number; p99Ms: number; maxMs: number };
          live: { n: number; p50Ms: number; p99Ms: number; maxMs: number };
          firstContiguous: number;
          reconnects: number;
          failedAttempts: number;
        }>('resumeReport', { name, t0Us: t0 });
        await sleep(500);
        const flow = await p.call<{ lastSeq: number; events: number }>('flowStop');
        const verify = await loadgen.call<{
          behind: number;
          lost: number;
          duplicates: number;
          duplicateSamples: string[];
          gaps: number;
          errors: number;
          firstError?: string;
          events: number;
        }>(
          'resumeVerify',
          { name, lastSeq: flow.lastSeq, timeoutMs: 10_000 },
          20_000,
        );
        const calls = (s: Record<string, string>) => {
          const out: Record<string, number> = {};
          for (const [key, value] of Object.entries(s)) {
            const m = /^cmdstat_(.+)$/.exec(key);
            const n = /calls=(\d+)/.exec(value);
            if (m !== null && n !== null) out[m[1]!] = Number(n[1]);
          }
          return out;
        };
        const before = calls(stats0);
        const after = calls(stats1);
        const delta = Object.entries(after)
          .map(([cmd, n]) => [cmd, n - (before[cmd] ?? 0)] as const)
          .filter(([, n]) => n > 0)
          .sort((x, y) => y[1] - x[1]);
        const totalCmds = Number(info1['total_commands_processed']) - Number(info0['total_commands_processed']);
        const stormS = (t1 - t0) / 1e6;
        row.headline = report.live.maxMs;
        row.p50Ms = report.live.p50Ms;
        row.p99Ms = report.live.p99Ms;
        row.maxMs = report.live.maxMs;
        row.serverCpuPct = ((bCpu1.cpuUs - bCpu0.cpuUs) / (bCpu1.nowUs - bCpu0.nowUs)) * 100;
        row.serverBusyPct = busy(bCpu0, bCpu1);
        row.brokerCpuPct = ((brokerCpu1 - brokerCpu0) / (t1 - t0)) * 100;
        row.runs = 1;
        row.goal = '< 5,000 ms';
        row.complete = live.count === live.of && verify.lost === 0 && verify.duplicates === 0 && verify.gaps === 0 && verify.errors === 0;
        row.note =
          `live ${live.count}/${live.of}; started p50 ${fmt(report.started.p50Ms)} max ${fmt(report.started.maxMs)} ms; first (replayed) event p50 ${fmt(report.resumed.p50Ms)} p99 ${fmt(report.resumed.p99Ms)} max ${fmt(report.resumed.maxMs)} ms, ` +
          `${report.firstContiguous}/${report.resumed.n} contiguous; lost ${verify.lost}, duplicates ${verify.duplicates}, gaps ${verify.gaps}, errors ${verify.errors}` +
          (verify.firstError !== undefined ? ` (${verify.firstError.slice(0, 120)})` : '') +
          `; ${report.failedAttempts} failed attempts, ${report.reconnects} reconnects, ${fmt(overflows1 - overflows0, 0)} SYNs dropped by a full listen queue (the client's kernel retries after 1 s, 3 s, 7 s); ` +
          `broker: ${fmt(totalCmds, 0)} commands in ${fmt(stormS, 2)} s (${delta
            .slice(0, 5)
            .map(([cmd, n]) => `${cmd} ${fmt(n, 0)}`)
            .join(', ')}), peak ${fmt(Math.max(0, ...ops), 0)} ops/s, peak CPU ${fmt(peakCpuPct, 0)}%; load generator CPU ${fmt(((lgCpu1.cpuUs - lgCpu0.cpuUs) / (t1 - t0)) * 100, 0)}%; ${fmt(flow.events, 0)} events published`;
        if (verify.duplicates > 0) log(`  reconnect-storm ${variant.label} run ${rep + 1}: duplicates, e.g. ${verify.duplicateSamples.join('; ')}`);
        log(`  reconnect-storm ${variant.label} run ${rep + 1}: last live at ${fmt(report.live.maxMs, 0)} ms (${row.note})`);
        samples.get(variant.label)!.push({ liveMaxMs: report.live.maxMs, row });
      } catch (error) {
        row.note = `failed: ${String(error).split('\n')[0]}`;
        log(`  reconnect-storm ${variant.label} run ${rep + 1}: ${row.note}`);
        await p.call('flowStop').catch(() => undefined);
        samples.get(variant.label)!.push({ liveMaxMs: Number.NaN, row });
      } finally {
        if (sampler !== undefined) clearInterval(sampler);
        await loadgen.call('resumeDisconnect', { name }).catch(() => undefined);
        await Promise.all([a.stop(2000), b.stop(3000), p.stop(3000)]);
        await redis.stop();
      }
    }
    for (const variant of variants) {
      const list = samples.get(variant.label)!;
      const valid = list.filter((s) => Number.isFinite(s.liveMaxMs));
      const chosen = valid.length > 0 ? medianOf(valid, (s) => s.liveMaxMs) : list[0]!;
      const row = chosen.row;
      row.runs = list.length;
      row.spreadPct = spread(valid.map((s) => s.liveMaxMs));
      row.complete = list.every((s) => s.row.complete);
      if (list.length > 1) row.note = `runs: ${list.map((s) => fmt(s.liveMaxMs, 0)).join(', ')} ms; median run: ${row.note ?? ''}`;
      rows.push(row);
    }
  }
  return rows;
}

/** The Durability table, in markdown. */
export function durabilityTable(rows: DurabilityRow[]): string {
  const head = ['scenario', 'configuration', 'subs', 'headline', 'ratio', 'goal', 'per server CPU-s', 'ratio per CPU-s', 'p50 ms', 'p99 ms', 'max ms', 'server CPU / busy', 'broker CPU', 'runs (spread)', 'notes'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const notes = [r.complete ? '' : '**incomplete**', r.note ?? ''].filter((x) => x !== '').join('; ');
    lines.push(
      `| ${[
        r.scenario,
        r.system,
        fmt(r.subscribers, 0),
        `${fmt(r.headline)} ${r.headlineUnit}`,
        r.ratio === null ? '–' : `${fmt(r.ratio, 2)}× ${r.ratioTo}`,
        r.goal ?? '–',
        fmt(r.perCpuSec, 0),
        r.ratioPerCpu === null ? '–' : `${fmt(r.ratioPerCpu, 2)}×`,
        fmt(r.p50Ms),
        fmt(r.p99Ms),
        fmt(r.maxMs),
        r.serverCpuPct === null ? '–' : `${fmt(r.serverCpuPct, 0)}% / ${fmt(r.serverBusyPct, 0)}%`,
        r.brokerCpuPct === null ? '–' : `${fmt(r.brokerCpuPct, 0)}%`,
        r.spreadPct === null ? String(r.runs) : `${r.runs} (±${fmt(r.spreadPct / 2, 0)}%)`,
        notes.replace(/\|/g, '/'),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
