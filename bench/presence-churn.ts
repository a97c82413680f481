/**
 * The `presence-churn` scenario of `npm run bench` (not in a default run;
 * name it: `npm run bench -- --scenario presence-churn`): what presence
 * costs when members come and go.
 *
 * Two trpc-pubsub instances with presence (bench/servers/trpc-pubsub-presence.ts)
 * on the Redis engine and a private redis-server: instance A on core 0 (the
 * one measured), instance B on core 1 with Redis, the load generator and
 * the presence client (bench/presence-client.ts). One presence watcher per
 * instance on `chat.presence({ key: 'lobby' })`; churn: {@link JOINS_PER_SEC}
 * joins per second alternating between A and B, each a new connection
 * subscribing to `chat.events({ key: 'lobby' })`, held {@link HOLD_MS}, then
 * closed (so about `JOINS_PER_SEC × HOLD_MS / 1000` members are listed at
 * any time). Fan-out stream: 1,000 subscribers of `news` on A, server-side
 * publish on B through the Redis engine, one event per loop turn while fewer
 * than 2 are unacknowledged (cross-instance's set-up and window: one event
 * at a time, keeping A busy without riding on the engine's batches), every
 * delivery waited for. "A CPU" is the whole phase; "per A CPU-s" the
 * deliveries per second of A's CPU time (robust to other processes on core 0).
 *
 * Five phases per repetition, interleaved:
 * 1. `fan-out alone`: the stream without churn (the baseline).
 * 2. `churn alone`: joins and leaves only: what a join costs on a quiet pair,
 *    in latency and in CPU (A's and B's, per join and its leave);
 *    `churn alone, topic without presence`: the same churn on a topic
 *    without presence (what the connections and subscriptions cost by themselves).
 * 3. `fan-out + churn`: both: the stream's events/s ÷ phase 1's (goal: ≥ 0.9×),
 *    and the join cost under load.
 * 4. `fan-out + churn, topic without presence`: the same churn of
 *    connections and subscriptions on a keyed topic without presence (the
 *    control: what of phase 3's loss is presence's).
 *
 * A join's cost: time from its subscription request to the moment the
 * other instance's watcher sees its `join` (p50/p99; the own instance's
 * watcher in the notes); a leave's, from the socket's close to the other
 * watcher's `leave`. Only joins sent inside the measured window count.
 *
 * Knobs: BENCH_PRESENCE_JOINS (100 joins/s), BENCH_PRESENCE_HOLD_MS (1,000),
 * BENCH_PRESENCE_TTL_MS (the servers' `presence.ttlMs`).
 */
import type { ChurnStats } from './presence-client.js';
import { startRedis } from './lib/brokers.js';
import type { LibraryEnv } from './lib/build.js';
import { sleep } from './lib/clock.js';
import { ChildProc } from './lib/ipc.js';
import type { SaturateResult } from './servers/common.js';

/** The scenario's name in `--scenario` and in the JSON rows. */
export const PRESENCE_SCENARIO = 'presence-churn';

/** Joins per second, over both instances. */
export const JOINS_PER_SEC = Number(process.env['BENCH_PRESENCE_JOINS'] ?? 100);
/** How long a member stays, ms. */
export const HOLD_MS = Number(process.env['BENCH_PRESENCE_HOLD_MS'] ?? 1000);
const SUBS = 1000;
const KEY = 'lobby';
/** Unacknowledged events the fan-out publisher allows (cross-instance's window). */
const WINDOW = Number(process.env['BENCH_CROSS_WINDOW'] ?? 2);

/** The phases of one repetition, in order. */
const PHASES: { label: string; fanout: boolean; churn?: 'chat' | 'plain' }[] = [
  { label: 'fan-out alone', fanout: true },
  { label: 'churn alone', fanout: false, churn: 'chat' },
  { label: 'churn alone, topic without presence', fanout: false, churn: 'plain' },
  { label: 'fan-out + churn', fanout: true, churn: 'chat' },
  { label: 'fan-out + churn, topic without presence', fanout: true, churn: 'plain' },
];

/** One row of the Presence table (and of `--json`): one phase. */
export interface PresenceRow {
  scenario: typeof PRESENCE_SCENARIO;
  /** The phase: `fan-out alone`, `churn alone`, `fan-out + churn`. */
  system: string;
  /** Fan-out subscribers on A (0 in `churn alone`). */
  subscribers: number;
  headline: number | null;
  headlineUnit: string;
  /** Fan-out deliveries and events per second on A (null without the stream). */
  deliveriesPerSec: number | null;
  eventsPerSec: number | null;
  /** Deliveries per second of A's CPU time. */
  deliveriesPerCpuSec: number | null;
  /** The stream's events/s ÷ `fan-out alone`'s, and its per-CPU-s ratio. */
  ratio: number | null;
  ratioPerCpu: number | null;
  goal: string | null;
  /** Joins per second started in the measured window (null without churn). */
  joinsPerSec: number | null;
  /** Join seen by the other instance's watcher, from the subscription request, ms. */
  joinP50Ms: number | null;
  joinP99Ms: number | null;
  joinMaxMs: number | null;
  /** Join seen by the own instance's watcher, ms. */
  localJoinP50Ms: number | null;
  localJoinP99Ms: number | null;
  /** Leave seen by the other instance's watcher, from the close, ms. */
  leaveP50Ms: number | null;
  leaveP99Ms: number | null;
  /** Subscription request to `started`, ms. */
  startedP50Ms: number | null;
  startedP99Ms: number | null;
  /** Churn without the stream: CPU time of A and B together per join (with its leave), ms. */
  cpuMsPerJoin: number | null;
  /** CPU of A, of B and of redis-server, % of one core. */
  serverCpuPct: number | null;
  serverBusyPct: number | null;
  peerCpuPct: number | null;
  brokerCpuPct: number | null;
  runs: number;
  complete: boolean;
  note?: string;
}

/** What bench/run.ts hands over. */
export interface PresenceContext {
  quick: boolean;
  repeat: number;
  loadgen: ChildProc;
  libraryEnv: LibraryEnv;
  serverFlags: string[];
  log(message: string): void;
}

interface ServerClock {
  cpuUs: number;
  nowUs: number;
  idleMs: number;
  activeMs: number;
}

interface CountResult {
  frames: number;
  complete: boolean;
  lastUs: number;
  unexpectedCloses: number;
}

interface ChurnReport {
  joins: number;
  unstarted: number;
  missingJoins: number;
  missingLeaves: number;
  errors: number;
  firstError?: string;
  started: ChurnStats;
  cross: ChurnStats;
  local: ChurnStats;
  leave: ChurnStats;
}

function fmt(value: number | null | undefined, digits?: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

function emptyRow(system: string, subscribers: number, unit: string): PresenceRow {
  return {
    scenario: PRESENCE_SCENARIO,
    system,
    subscribers,
    headline: null,
    headlineUnit: unit,
    deliveriesPerSec: null,
    eventsPerSec: null,
    deliveriesPerCpuSec: null,
    ratio: null,
    ratioPerCpu: null,
    goal: null,
    joinsPerSec: null,
    joinP50Ms: null,
    joinP99Ms: null,
    joinMaxMs: null,
    localJoinP50Ms: null,
    localJoinP99Ms: null,
    leaveP50Ms: null,
    leaveP99Ms: null,
    startedP50Ms: null,
    startedP99Ms: null,
    cpuMsPerJoin: null,
    serverCpuPct: null,
    serverBusyPct: null,
    peerCpuPct: null,
    brokerCpuPct: null,
    runs: 1,
    complete: false,
  };
}

function median<T>(list: T[], key: (x: T) => number): T {
  const sorted = [...list].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Runs the phases `repeat` times; returns one row per phase (the median run by headline). */
export async function runPresenceChurn(ctx: PresenceContext): Promise<PresenceRow[]> {
  const { loadgen, log } = ctx;
  const warmMs = ctx.quick ? 300 : 1000;
  const measureMs = ctx.quick ? 1500 : 4000;
  log(`presence-churn: ${JOINS_PER_SEC} joins/s over instances A and B (Redis), each held ${HOLD_MS} ms; fan-out to ${SUBS} subscribers on A; ${measureMs / 1000} s per phase`);
  const redis = await startRedis(1);
  const start = (name: string, cpu: number) =>
    ChildProc.start<{ port: number }>({
      name,
      script: 'bench/servers/trpc-pubsub-presence.ts',
      cpu,
      nodeArgs: [...ctx.serverFlags],
      args: ['--redis', redis.url, '--prefix', 'presence-churn'],
      env: ctx.libraryEnv,
    });
  const started = await Promise.allSettled([
    start('presence A', 0),
    start('presence B', 1),
    ChildProc.start({ name: 'presence client', script: 'bench/presence-client.ts', cpu: 1 }),
  ]);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    for (const s of started) if (s.status === 'fulfilled') await s.value.stop(2000);
    await redis.stop();
    throw new Error(`presence-churn: could not start (${String(failed.reason).split('\n')[0]})`);
  }
  const [a, b, client] = started.map((s) => (s as PromiseFulfilledResult<ChildProc<{ port: number }>>).value) as [
    ChildProc<{ port: number }>,
    ChildProc<{ port: number }>,
    ChildProc,
  ];
  const ports = [a.info.port, b.info.port];
  const name = 'presence:fanout';
  const samples = new Map<string, PresenceRow[]>();
  let stopRelay: (() => void) | undefined;
  const push = (row: PresenceRow) => {
    const list = samples.get(row.system) ?? [];
    list.push(row);
    samples.set(row.system, list);
  };

  /**
   * The fan-out stream on A for `ms`: B publishes one event per loop turn
   * while fewer than {@link WINDOW} are unacknowledged (an acknowledgement
   * is the last subscriber's receipt, relayed by the orchestrator), as
   * cross-instance does: events go through Redis one at a time, so the
   * figure does not ride on how many the engine hands over per read.
   */
  const fanout = async (ms: number) => {
    await loadgen.call('countStart', { name });
    const a0 = await a.call<ServerClock>('cpu');
    const broker0 = redis.cpuUs();
    const sat = await b.call<SaturateResult & { drained: boolean }>('windowed', { durationMs: ms, window: WINDOW, stallMs: 3000 }, ms + 30_000);
    const got = await loadgen.call<CountResult>('countWait', { name, target: sat.events * SUBS, idleMs: 3000, timeoutMs: 60_000 }, 70_000);
    const a1 = await a.call<ServerClock>('cpu');
    const broker1 = redis.cpuUs();
    const spanUs = Math.max(got.lastUs, sat.endUs) - sat.startUs;
    const wallUs = a1.nowUs - a0.nowUs;
    const active = a1.activeMs - a0.activeMs;
    return {
      sat,
      got,
      deliveriesPerSec: (got.frames / spanUs) * 1e6,
      eventsPerSec: (got.frames / SUBS / spanUs) * 1e6,
      deliveriesPerCpuSec: (got.frames / (a1.cpuUs - a0.cpuUs)) * 1e6,
      serverCpuPct: ((a1.cpuUs - a0.cpuUs) / wallUs) * 100,
      serverBusyPct: (active / (active + a1.idleMs - a0.idleMs)) * 100,
      peerCpuPct: (sat.cpuUs / (sat.endUs - sat.startUs)) * 100,
      brokerCpuPct: ((broker1 - broker0) / wallUs) * 100,
      complete: got.complete && sat.drained && got.unexpectedCloses === 0,
    };
  };

  const withChurn = (row: PresenceRow, report: ChurnReport, windowMs: number, notes: string[], watched: boolean) => {
    row.joinsPerSec = (report.joins / windowMs) * 1000;
    row.startedP50Ms = report.started.p50Ms;
    row.startedP99Ms = report.started.p99Ms;
    if (!watched) {
      notes.push(`${report.joins} joins of a topic without presence; started p50 ${fmt(report.started.p50Ms)} p99 ${fmt(report.started.p99Ms)} ms`);
      if (report.unstarted > 0) notes.push(`${report.unstarted} never started`);
      if (report.errors > 0) notes.push(`${report.errors} errors (${report.firstError?.slice(0, 160)})`);
      return report.unstarted + report.errors === 0;
    }
    row.joinP50Ms = report.cross.p50Ms;
    row.joinP99Ms = report.cross.p99Ms;
    row.joinMaxMs = report.cross.maxMs;
    row.localJoinP50Ms = report.local.p50Ms;
    row.localJoinP99Ms = report.local.p99Ms;
    row.leaveP50Ms = report.leave.p50Ms;
    row.leaveP99Ms = report.leave.p99Ms;
    row.startedP50Ms = report.started.p50Ms;
    notes.push(`${report.joins} joins; own instance's watcher p50 ${fmt(report.local.p50Ms)} p99 ${fmt(report.local.p99Ms)} ms; leave seen p50 ${fmt(report.leave.p50Ms)} p99 ${fmt(report.leave.p99Ms)} ms; started p50 ${fmt(report.started.p50Ms)} ms`);
    if (report.missingJoins + report.missingLeaves + report.unstarted > 0) notes.push(`missing: ${report.missingJoins} joins, ${report.missingLeaves} leaves unseen, ${report.unstarted} never started`);
    if (report.errors > 0) notes.push(`${report.errors} errors (${report.firstError?.slice(0, 160)})`);
    return report.missingJoins + report.missingLeaves + report.unstarted + report.errors === 0;
  };

  try {
    const c = await loadgen.call<{ failed: number; firstError?: string }>('connect', { name, protocol: 'trpc', port: a.info.port, n: SUBS, concurrency: 100, timeoutMs: 20_000 }, 120_000);
    if (c.failed > 0) throw new Error(`presence-churn: ${c.failed} of ${SUBS} fan-out subscribers failed: ${c.firstError}`);
    await a.call('waitSubscribers', { n: SUBS, timeoutMs: 20_000 }, 30_000);
    await loadgen.call('track', { name, on: true });
    stopRelay = loadgen.onEvent((event) => {
      if (event.event === 'seq' && event['name'] === name) b.notify('ack', { seq: event['seq'] as number });
    });
    // Until one event makes it through (the engine's subscription is asynchronous).
    let through = false;
    for (let i = 0; i < 40 && !through; i++) through = (await b.call<{ drained: boolean }>('windowed', { durationMs: 1, window: 1, stallMs: 250 })).drained;
    if (!through) throw new Error('presence-churn: no event reached the fan-out subscribers');
    await client.call('watch', { ports, key: KEY, timeoutMs: 10_000 }, 20_000);
    // Warm-up, not recorded: the stream, then a short churn.
    await fanout(warmMs);
    await client.call('churnStart', { ports, key: KEY, joinsPerSec: JOINS_PER_SEC, holdMs: HOLD_MS });
    await sleep(warmMs);
    await client.call('churnStop', { settleMs: HOLD_MS + 5000 }, HOLD_MS + 20_000);

    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const phase of PHASES) {
        const unit = phase.fanout ? 'events/s' : phase.churn === 'chat' ? 'join p99 ms' : 'started p99 ms';
        const row = emptyRow(phase.label, phase.fanout ? SUBS : 0, unit);
        const notes: string[] = [];
        if (phase.fanout) notes.push(`B publishes through Redis, window ${WINDOW} events`);
        let churnOk = true;
        if (phase.churn !== undefined) {
          await client.call('churnStart', { ports, topic: phase.churn, key: KEY, joinsPerSec: JOINS_PER_SEC, holdMs: HOLD_MS });
          // Until members come and go at a steady rate.
          await sleep(HOLD_MS);
        }
        if (phase.fanout) {
          const f = await fanout(measureMs);
          Object.assign(row, {
            headline: f.eventsPerSec,
            deliveriesPerSec: f.deliveriesPerSec,
            eventsPerSec: f.eventsPerSec,
            deliveriesPerCpuSec: f.deliveriesPerCpuSec,
            serverCpuPct: f.serverCpuPct,
            serverBusyPct: f.serverBusyPct,
            peerCpuPct: f.peerCpuPct,
            brokerCpuPct: f.brokerCpuPct,
          });
          churnOk = f.complete;
          if (phase.churn !== undefined) {
            const report = await client.call<ChurnReport>('churnStop', { settleMs: HOLD_MS + 10_000, fromUs: f.sat.startUs, toUs: f.sat.endUs }, HOLD_MS + 30_000);
            notes.push('joins sent while the stream was published');
            churnOk = withChurn(row, report, (f.sat.endUs - f.sat.startUs) / 1000, notes, phase.churn === 'chat') && churnOk;
          }
        } else {
          const a0 = await a.call<ServerClock>('cpu');
          const b0 = await b.call<ServerClock>('cpu');
          const broker0 = redis.cpuUs();
          const fromUs = a0.nowUs;
          await sleep(measureMs);
          const a1 = await a.call<ServerClock>('cpu');
          const b1 = await b.call<ServerClock>('cpu');
          const broker1 = redis.cpuUs();
          const report = await client.call<ChurnReport>('churnStop', { settleMs: HOLD_MS + 5000, fromUs, toUs: a1.nowUs }, HOLD_MS + 20_000);
          churnOk = withChurn(row, report, (a1.nowUs - fromUs) / 1000, notes, phase.churn === 'chat');
          row.headline = phase.churn === 'chat' ? row.joinP99Ms : row.startedP99Ms;
          // Joins still held when the window closed leave after it: about as many left before it opened.
          row.cpuMsPerJoin = report.joins > 0 ? (a1.cpuUs - a0.cpuUs + (b1.cpuUs - b0.cpuUs)) / report.joins / 1000 : null;
          const wallUs = a1.nowUs - a0.nowUs;
          row.serverCpuPct = ((a1.cpuUs - a0.cpuUs) / wallUs) * 100;
          row.serverBusyPct = ((a1.activeMs - a0.activeMs) / (a1.activeMs - a0.activeMs + a1.idleMs - a0.idleMs)) * 100;
          row.peerCpuPct = ((b1.cpuUs - b0.cpuUs) / (b1.nowUs - b0.nowUs)) * 100;
          row.brokerCpuPct = ((broker1 - broker0) / wallUs) * 100;
        }
        row.complete = churnOk;
        row.note = notes.join('; ');
        push(row);
        log(
          `  presence-churn ${phase.label.padEnd(34)} ${phase.fanout ? `${fmt(row.eventsPerSec, 1)} events/s, ${fmt(row.deliveriesPerSec, 0)} deliveries/s, A CPU ${fmt(row.serverCpuPct, 0)}%` : ''}` +
            `${row.joinP50Ms === null ? '' : ` join seen by the other instance p50 ${fmt(row.joinP50Ms)} p99 ${fmt(row.joinP99Ms)} ms`} (${row.note})`,
        );
      }
    }
  } finally {
    stopRelay?.();
    await loadgen.call('disconnect', { name }).catch(() => undefined);
    await Promise.all([client.stop(2000), a.stop(3000), b.stop(3000)]);
    await redis.stop();
  }

  const rows: PresenceRow[] = [];
  for (const [system, list] of samples) {
    const valid = list.filter((r) => r.headline !== null && Number.isFinite(r.headline));
    const row = valid.length > 0 ? median(valid, (r) => r.headline!) : list[0]!;
    row.runs = list.length;
    row.complete = list.every((r) => r.complete);
    if (list.length > 1) row.note = `runs: ${list.map((r) => fmt(r.headline)).join(', ')} ${row.headlineUnit}; median run: ${row.note ?? ''}`;
    rows.push(row);
  }
  const alone = rows.find((r) => r.system === 'fan-out alone');
  for (const row of rows) {
    if (alone === undefined || row === alone || row.eventsPerSec === null) continue;
    row.ratio = alone.eventsPerSec !== null ? row.eventsPerSec / alone.eventsPerSec : null;
    row.ratioPerCpu = row.deliveriesPerCpuSec !== null && alone.deliveriesPerCpuSec !== null ? row.deliveriesPerCpuSec / alone.deliveriesPerCpuSec : null;
    if (row.system === 'fan-out + churn') row.goal = '≥ 0.9×';
  }
  return rows;
}

/** The Presence table, in markdown. */
export function presenceTable(rows: PresenceRow[]): string {
  const head = [
    'phase',
    'fan-out subs',
    'fan-out events/s',
    'deliveries/s',
    'per A CPU-s',
    '÷ fan-out alone (per CPU-s)',
    'joins/s',
    'join seen by other instance p50 / p99 / max ms',
    'A+B CPU ms per join',
    'A CPU / busy',
    'B CPU',
    'Redis CPU',
    'runs',
    'notes',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const notes = [r.complete ? '' : '**incomplete**', r.note ?? ''].filter((x) => x !== '').join('; ');
    lines.push(
      `| ${[
        r.system,
        fmt(r.subscribers, 0),
        fmt(r.eventsPerSec, 1),
        fmt(r.deliveriesPerSec, 0),
        fmt(r.deliveriesPerCpuSec, 0),
        r.ratio === null ? '–' : `**${fmt(r.ratio, 2)}×** (${fmt(r.ratioPerCpu, 2)}×)${r.goal === null ? '' : `, goal ${r.goal}`}`,
        fmt(r.joinsPerSec, 0),
        r.joinP50Ms === null ? '–' : `${fmt(r.joinP50Ms)} / ${fmt(r.joinP99Ms)} / ${fmt(r.joinMaxMs)}`,
        fmt(r.cpuMsPerJoin),
        r.serverCpuPct === null ? '–' : `${fmt(r.serverCpuPct, 0)}% / ${fmt(r.serverBusyPct, 0)}%`,
        r.peerCpuPct === null ? '–' : `${fmt(r.peerCpuPct, 0)}%`,
        r.brokerCpuPct === null ? '–' : `${fmt(r.brokerCpuPct, 0)}%`,
        String(r.runs),
        notes.replace(/\|/g, '/'),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
