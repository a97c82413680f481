/**
 * The `fairness` scenario of `npm run bench` (not in a default run; name it:
 * `npm run bench -- --scenario fairness`): can one client starve everyone?
 *
 * One trpc-pubsub server (memory engine, core 0); in a client process
 * (bench/fairness-client.ts, core 1) 100 subscribers of the `probe` topic
 * and a probe publisher sending 20 `probe.publish` mutations per second,
 * each stamped with its send time on the shared clock; publish-to-delivery
 * latency is read at every subscriber. Three phases of 10 s each, the probe
 * running throughout:
 *
 * 1. `idle`: only the probe.
 * 2. `flood, reads replies`: a second client process (core 1, `nice` 19 so
 *    that it does not delay the probe's process) opens one connection and
 *    sends `flood.publish` mutations as fast as its socket takes them,
 *    reading and counting the replies (accepted, `TOO_MANY_REQUESTS`).
 * 3. `flood, never reads`: the same flood from a connection that never
 *    reads its socket; the server's output budget should close it (4429):
 *    when it closed, and how much the server's RSS grew.
 *
 * Reported per phase: the probe's p50/p99/max, p99 ÷ the idle phase's p99
 * (goal: ≤ 2× while flooding), the flooder's requests written, accepted and
 * rejected per second, the server's publishes per second (from /metrics),
 * server CPU and event-loop utilization, RSS growth. Each phase runs once
 * (`--repeat` does not apply; the probe gives 200 events × 100 subscribers
 * per phase); `--quick` shortens the phases to 3 s.
 *
 * Knobs: BENCH_FAIRNESS_SUBS (100), BENCH_FAIRNESS_RATE (20 events/s),
 * BENCH_FAIRNESS_PHASE_MS (10,000), BENCH_FAIRNESS_RATE_LIMIT=off (the
 * server with `rateLimit: false`: the figure without the request limit).
 */
import { setPriority } from 'node:os';
import type { FloodStats } from './fairness-client.js';
import type { LibraryEnv } from './lib/build.js';
import { nowUs, sleep } from './lib/clock.js';
import { ChildProc } from './lib/ipc.js';

/** The scenario's name in `--scenario` and in the JSON rows. */
export const FAIRNESS_SCENARIO = 'fairness';

/** One row of the Fairness table (and of `--json`): one phase. */
export interface FairnessRow {
  scenario: typeof FAIRNESS_SCENARIO;
  /** The phase: `idle`, `flood, reads replies`, `flood, never reads`. */
  system: string;
  /** Probe subscribers. */
  subscribers: number;
  /** Probe events per second. */
  probeEventsPerSec: number;
  headline: number | null;
  headlineUnit: string;
  /** Probe publish-to-delivery latency over every delivery of the phase, ms; an event that never arrived counts as infinite (null when a percentile falls on one). */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** p99 ÷ the idle phase's p99. */
  ratio: number | null;
  ratioTo: string | null;
  goal: string | null;
  goalMet: boolean | null;
  /** Probe deliveries expected (events × subscribers) and missing. */
  expected: number;
  missing: number;
  /** Flooder: requests written to its socket per second of the phase. */
  flooderSentPerSec: number | null;
  /** Flooder: replies read per second (reading flooder only): results, `TOO_MANY_REQUESTS`, other errors. */
  flooderAcceptedPerSec: number | null;
  flooderRejectedPerSec: number | null;
  flooderErrorsPerSec: number | null;
  /** Flood publishes the server made per second (its `trpc_pubsub_published_total`, less the probe's). */
  serverFloodPublishesPerSec: number | null;
  /**
   * When the flooder saw its connection end (a close frame, or a write
   * refused with ECONNRESET once the server terminated a socket it would
   * not read), ms after it opened; null: it stayed open. The server sends
   * its 4429 close frame first and terminates a client that does not answer
   * it a second later.
   */
  flooderClosedAfterMs: number | null;
  /** How the flooder saw its connection end. */
  flooderCloseReason: string | null;
  /** When the server's connection count (its /metrics, polled every ~200 ms, slower under load) first showed the flooder gone, ms after it opened. */
  serverDroppedAfterMs: number | null;
  /** Server RSS before the flooder connected and the peak during the phase, MiB. */
  serverRssBeforeMb: number | null;
  serverRssPeakMb: number | null;
  serverCpuPct: number | null;
  /** Event-loop utilization of the server, %. */
  serverBusyPct: number | null;
  /** Event-loop delay of the probe's own process, p99 and max ms: large values mean the clients, not the server, added latency. */
  clientLagP99Ms: number | null;
  clientLagMaxMs: number | null;
  /**
   * The probe's own process stalled longer than {@link DISTURBED_MS} during
   * the phase (another process took its core): its p99 says more about the
   * machine than about the server, and so does a ratio to it.
   */
  disturbed: boolean;
  runs: number;
  complete: boolean;
  note?: string;
}

/** What bench/run.ts hands over. */
export interface FairnessContext {
  quick: boolean;
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

interface ProbeWindow {
  sent: number;
  firstSeq: number;
  lastSeq: number;
  startUs: number;
  endUs: number;
  late: number;
}

interface ProbeStats {
  subscribers: number;
  expected: number;
  delivered: number;
  missing: number;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  subscriberErrors: number;
  publishErrors: number;
  firstError?: string;
  closes: number;
  closeReasons: Record<string, number>;
  lagP99Ms: number;
  lagMaxMs: number;
}

const SUBS = Number(process.env['BENCH_FAIRNESS_SUBS'] ?? 100);
const PROBE_RATE = Number(process.env['BENCH_FAIRNESS_RATE'] ?? 20);
/** How long the flood runs before the probe's window opens. */
const RAMP_MS = 500;
const GOAL = 2;
/** A phase is flagged disturbed when the probe's own process stalled longer than this (ms). */
const DISTURBED_MS = 20;
/**
 * BENCH_FAIRNESS_RATE_LIMIT=off: the server runs with `rateLimit: false`
 * (the figure without the request limit, for a before/after in one build).
 */
const RATE_LIMIT_OFF = process.env['BENCH_FAIRNESS_RATE_LIMIT'] === 'off';

function fmt(value: number | null | undefined, digits?: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

const MiB = 2 ** 20;

/** The server's open connections and publishes so far, from its `/metrics`. */
async function scrape(port: number): Promise<{ connections: number; published: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { connections: value('trpc_pubsub_connections'), published: value('trpc_pubsub_published_total') };
}

/** Runs the three phases; returns their rows. */
export async function runFairness(ctx: FairnessContext): Promise<FairnessRow[]> {
  const { log } = ctx;
  const phaseMs = Number(process.env['BENCH_FAIRNESS_PHASE_MS'] ?? (ctx.quick ? 3000 : 10_000));
  log(`fairness${RATE_LIMIT_OFF ? ' (server with rateLimit: false)' : ''}: ${SUBS} probe subscribers, ${PROBE_RATE} probe events/s, ${phaseMs / 1000} s per phase: idle, flood reading its replies, flood never reading`);
  const [server, clients, flooder] = await Promise.all([
    ChildProc.start<{ port: number }>({
      name: 'fairness server',
      script: 'bench/servers/trpc-pubsub.ts',
      cpu: 0,
      nodeArgs: [...ctx.serverFlags],
      env: { ...ctx.libraryEnv, BENCH_RATE_LIMIT: RATE_LIMIT_OFF ? 'off' : undefined },
    }),
    ChildProc.start({ name: 'fairness clients', script: 'bench/fairness-client.ts', cpu: 1 }),
    ChildProc.start({ name: 'fairness flooder', script: 'bench/fairness-client.ts', cpu: 1 }),
  ]);
  // The flooder shares core 1 with the probe's process: at nice 19 it only gets what the probe leaves.
  try {
    if (flooder.pid !== undefined) setPriority(flooder.pid, 19);
  } catch (error) {
    log(`fairness: could not renice the flooder (${String(error)})`);
  }
  const port = server.info.port;
  const rows: FairnessRow[] = [];
  try {
    const c = await clients.call<{ failed: number; firstError?: string }>('probeConnect', { port, n: SUBS, concurrency: 50, timeoutMs: 20_000 }, 60_000);
    if (c.failed > 0) throw new Error(`${c.failed} of ${SUBS} probe subscribers failed: ${c.firstError}`);
    await server.call('waitSubscribers', { n: SUBS, timeoutMs: 20_000 }, 30_000);
    const baseConnections = (await scrape(port)).connections;
    // Warm-up (JIT, lazy state), not recorded.
    await clients.call('probeWindow', { eventsPerSec: PROBE_RATE, durationMs: 1000 }, 30_000);
    await clients.call('probeCollect', { idleMs: 1000, timeoutMs: 5000 }, 10_000);

    const phase = async (label: string, flood: 'none' | 'read' | 'no-read'): Promise<FairnessRow> => {
      const row: FairnessRow = {
        scenario: FAIRNESS_SCENARIO,
        system: RATE_LIMIT_OFF ? `${label}, rateLimit off` : label,
        subscribers: SUBS,
        probeEventsPerSec: PROBE_RATE,
        headline: null,
        headlineUnit: 'probe p99 ms',
        p50Ms: null,
        p99Ms: null,
        maxMs: null,
        ratio: null,
        ratioTo: null,
        goal: null,
        goalMet: null,
        expected: 0,
        missing: 0,
        flooderSentPerSec: null,
        flooderAcceptedPerSec: null,
        flooderRejectedPerSec: null,
        flooderErrorsPerSec: null,
        serverFloodPublishesPerSec: null,
        flooderClosedAfterMs: null,
        flooderCloseReason: null,
        serverDroppedAfterMs: null,
        serverRssBeforeMb: null,
        serverRssPeakMb: null,
        serverCpuPct: null,
        serverBusyPct: null,
        clientLagP99Ms: null,
        clientLagMaxMs: null,
        disturbed: false,
        runs: 1,
        complete: false,
      };
      const notes: string[] = [];
      const rssBefore = (await server.call<{ rss: number }>('info')).rss;
      let rssPeak = rssBefore;
      // Server-side view every 200 ms: RSS, and when the flooder's connection went away.
      let sampling = true;
      let flooding = false;
      let opened: FloodStats | undefined;
      let droppedAtUs: number | undefined;
      const sampler = (async () => {
        while (sampling) {
          const [info, metrics] = await Promise.all([server.call<{ rss: number }>('info', {}, 30_000), scrape(port)]);
          rssPeak = Math.max(rssPeak, info.rss);
          if (flood !== 'none' && droppedAtUs === undefined && flooding && metrics.connections <= baseConnections) droppedAtUs = nowUs();
          await sleep(200);
        }
      })();
      try {
        if (flood !== 'none') {
          opened = await flooder.call<FloodStats>('floodStart', { port, read: flood === 'read', timeoutMs: 10_000 }, 20_000);
          flooding = true;
          await sleep(RAMP_MS);
        }
        const [cpu0, m0, f0] = await Promise.all([
          server.call<ServerClock>('cpu', {}, 30_000),
          scrape(port),
          flood === 'none' ? undefined : flooder.call<FloodStats>('floodStats'),
        ]);
        const win = await clients.call<ProbeWindow>('probeWindow', { eventsPerSec: PROBE_RATE, durationMs: phaseMs }, phaseMs + 30_000);
        const [cpu1, m1, f1] = await Promise.all([
          server.call<ServerClock>('cpu', {}, 30_000),
          scrape(port),
          flood === 'none' ? undefined : flooder.call<FloodStats>('floodStats'),
        ]);
        // The flood keeps running while the window's last events arrive.
        const stats = await clients.call<ProbeStats>('probeCollect', { idleMs: 3000, timeoutMs: 15_000 }, 30_000);
        const wallUs = cpu1.nowUs - cpu0.nowUs;
        const active = cpu1.activeMs - cpu0.activeMs;
        const idle = cpu1.idleMs - cpu0.idleMs;
        row.p50Ms = stats.p50Ms;
        row.p99Ms = stats.p99Ms;
        row.maxMs = stats.maxMs;
        row.headline = stats.p99Ms;
        row.expected = stats.expected;
        row.missing = stats.missing;
        row.serverCpuPct = ((cpu1.cpuUs - cpu0.cpuUs) / wallUs) * 100;
        row.serverBusyPct = (active / (active + idle)) * 100;
        row.serverFloodPublishesPerSec = Math.max(0, ((m1.published - m0.published - win.sent) / wallUs) * 1e6);
        row.clientLagP99Ms = stats.lagP99Ms;
        row.clientLagMaxMs = stats.lagMaxMs;
        row.disturbed = stats.lagMaxMs > DISTURBED_MS;
        if (row.disturbed) notes.push(`**disturbed**: the probe's process stalled ${fmt(stats.lagMaxMs, 0)} ms`);
        if (f0 !== undefined && f1 !== undefined) {
          const us = f1.nowUs - f0.nowUs;
          const perSec = (a: number, b: number) => ((b - a) / us) * 1e6;
          row.flooderSentPerSec = perSec(f0.sent, f1.sent);
          if (flood === 'read') {
            row.flooderAcceptedPerSec = perSec(f0.accepted, f1.accepted);
            row.flooderRejectedPerSec = perSec(f0.rejected, f1.rejected);
            row.flooderErrorsPerSec = perSec(f0.otherErrors, f1.otherErrors);
            if (f1.firstError !== undefined) notes.push(`flooder error: ${f1.firstError.slice(0, 160)}`);
          }
        }
        row.complete = stats.missing === 0 && stats.closes === 0 && stats.publishErrors === 0 && stats.subscriberErrors === 0;
        notes.push(`${fmt(stats.delivered, 0)}/${fmt(stats.expected, 0)} probe deliveries`);
        if (stats.p999Ms !== null) notes.push(`p99.9 ${fmt(stats.p999Ms)} ms`);
        if (win.late > 0) notes.push(`${win.late} probe sends late`);
        if (stats.publishErrors > 0 || stats.subscriberErrors > 0) notes.push(`probe errors: ${stats.publishErrors} publish, ${stats.subscriberErrors} subscriber (${stats.firstError?.slice(0, 160)})`);
        if (stats.closes > 0) notes.push(`probe closes: ${JSON.stringify(stats.closeReasons)}`);
        notes.push(`probe process loop delay p99 ${fmt(stats.lagP99Ms)} max ${fmt(stats.lagMaxMs)} ms`);
      } finally {
        sampling = false;
        await sampler.catch((error: unknown) => notes.push(`sampler: ${String(error).split('\n')[0]}`));
      }
      if (flood !== 'none') {
        const end = await flooder.call<FloodStats>('floodStop');
        flooding = false;
        const openedUs = end.openedUs || (opened?.openedUs ?? 0);
        if (end.closedUs !== null) row.flooderClosedAfterMs = (end.closedUs - openedUs) / 1000;
        if (droppedAtUs !== undefined) row.serverDroppedAfterMs = (droppedAtUs - openedUs) / 1000;
        row.flooderCloseReason = end.closeReason;
        if (end.closedUs !== null) notes.push(`flooder's socket ended ${fmt(row.flooderClosedAfterMs, 0)} ms after it opened (${end.closeReason})`);
        else notes.push('flooder connection stayed open');
        if (row.serverDroppedAfterMs !== null) notes.push(`server's connection count showed it gone at ${fmt(row.serverDroppedAfterMs, 0)} ms (polled)`);
        notes.push(`flooder wrote ${fmt(end.sent, 0)} requests (${fmt(end.bytes / MiB, 1)} MiB) in all`);
        // Until the server has let go of the flooding connection.
        const deadline = Date.now() + 10_000;
        while ((await scrape(port)).connections > baseConnections && Date.now() < deadline) await sleep(50);
        await sleep(1000);
      }
      row.serverRssBeforeMb = rssBefore / MiB;
      row.serverRssPeakMb = rssPeak / MiB;
      row.note = notes.join('; ');
      log(
        `  fairness ${label.padEnd(22)} probe p50 ${fmt(row.p50Ms)} p99 ${fmt(row.p99Ms)} max ${fmt(row.maxMs)} ms; ` +
          (flood === 'none'
            ? ''
            : `flooder ${fmt(row.flooderSentPerSec, 0)} sent/s, ${fmt(row.flooderAcceptedPerSec, 0)} accepted/s, ${fmt(row.flooderRejectedPerSec, 0)} rejected/s; ` +
              `server ${fmt(row.serverFloodPublishesPerSec, 0)} flood publishes/s; closed after ${fmt(row.flooderClosedAfterMs, 0)} ms; RSS ${fmt(row.serverRssBeforeMb, 1)} → peak ${fmt(row.serverRssPeakMb, 1)} MiB; `) +
          `server CPU ${fmt(row.serverCpuPct, 0)}% busy ${fmt(row.serverBusyPct, 0)}% (${row.note})`,
      );
      return row;
    };

    const idle = await phase('idle', 'none');
    rows.push(idle);
    for (const [label, flood] of [
      ['flood, reads replies', 'read'],
      ['flood, never reads', 'no-read'],
    ] as const) {
      const row = await phase(label, flood);
      row.ratioTo = 'idle';
      row.goal = `≤ ${GOAL}× idle`;
      row.ratio = row.p99Ms !== null && idle.p99Ms !== null ? row.p99Ms / idle.p99Ms : null;
      // A p99 that falls on a lost event is not within the goal.
      row.goalMet = row.ratio !== null && row.ratio <= GOAL;
      log(
        `  fairness ${label.padEnd(22)} p99 ÷ idle p99 = ${fmt(row.ratio, 2)}× (goal ≤ ${GOAL}×: ${row.goalMet ? 'met' : 'missed'}` +
          `${row.disturbed || idle.disturbed ? '; disturbed run, repeat on a quiet machine' : ''})`,
      );
      rows.push(row);
    }
  } finally {
    await Promise.all([clients.stop(2000), flooder.stop(2000), server.stop(3000)]);
  }
  return rows;
}

/** The Fairness table, in markdown. */
export function fairnessTable(rows: FairnessRow[]): string {
  const idle = rows.find((r) => r.ratioTo === null);
  const head = [
    'phase',
    'subs',
    'probe p50 ms',
    'p99 ms',
    'max ms',
    'p99 ÷ idle',
    'goal',
    'flooder sent/s',
    'accepted/s',
    'rejected/s',
    'server flood publishes/s',
    'flooder closed after',
    'server RSS before → peak',
    'server CPU / busy',
    'notes',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const notes = [r.complete ? '' : '**incomplete**', r.note ?? ''].filter((x) => x !== '').join('; ');
    const flooding = r.ratioTo !== null;
    lines.push(
      `| ${[
        r.system,
        fmt(r.subscribers, 0),
        fmt(r.p50Ms),
        r.p99Ms === null && r.missing > 0 ? '∞ (lost events)' : fmt(r.p99Ms),
        r.maxMs === null && r.missing > 0 ? '∞' : fmt(r.maxMs),
        r.ratio === null ? '–' : `**${fmt(r.ratio, 2)}×**`,
        r.goal === null ? '–' : `${r.goal} ${r.goalMet ? 'met' : 'missed'}${r.disturbed || idle?.disturbed === true ? ' (disturbed)' : ''}`,
        fmt(r.flooderSentPerSec, 0),
        fmt(r.flooderAcceptedPerSec, 0),
        fmt(r.flooderRejectedPerSec, 0),
        fmt(r.serverFloodPublishesPerSec, 0),
        !flooding ? '–' : r.flooderClosedAfterMs === null ? 'stayed open' : `${fmt(r.flooderClosedAfterMs, 0)} ms`,
        r.serverRssBeforeMb === null ? '–' : `${fmt(r.serverRssBeforeMb, 1)} → ${fmt(r.serverRssPeakMb, 1)} MiB`,
        r.serverCpuPct === null ? '–' : `${fmt(r.serverCpuPct, 0)}% / ${fmt(r.serverBusyPct, 0)}%`,
        notes.replace(/\|/g, '/'),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
