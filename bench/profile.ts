/**
 * Profiles a server under the fan-out scenario and reports where its time
 * goes (V8 CPU profiler, the one behind `node --cpu-prof`, started over the
 * inspector for exactly the measured window).
 *
 *   npx tsx --conditions=@trpc-pubsub/source bench/profile.ts [--system trpc-pubsub] [--subs 1000]
 *       [--seconds 8] [--per-turn 1] [--loadgen] [--top 30] [--source]
 *   npx tsx --conditions=@trpc-pubsub/source bench/profile.ts --connect [--system …] [--subs 5000]   (the connection path)
 *   npx tsx --conditions=@trpc-pubsub/source bench/profile.ts --rooms 10000 [--system …] [--per-turn 10]   (many-channels: N rooms of 2 on N connections)
 *   npx tsx bench/profile.ts --analyze FILE.cpuprofile [--top 30]   (e.g. from node --cpu-prof)
 *
 * Profiles land in bench/out/profiles/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib/ipc.js';
import { arg, runTool, startPair } from './lib/tool.js';
import type { SaturateResult } from './servers/common.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm !== -1) u = u.slice(nm + 'node_modules/'.length);
  else if (u.startsWith(ROOT)) u = u.slice(ROOT.length);
  return u;
}

function keyOf(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  const url = shortUrl(frame.url);
  return url === '' ? name : `${name}  ${url}:${frame.lineNumber + 1}`;
}

function moduleOf(frame: CallFrame): string {
  const url = shortUrl(frame.url);
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native/V8)';
  if (url.startsWith('node:')) return url;
  const parts = url.split('/');
  if (parts[0]?.startsWith('@')) return parts.slice(0, 2).join('/') + '/' + parts.slice(2).join('/');
  return url;
}

/** Top functions by self time, inclusive time of the same, and self time per module. */
export function summarize(profile: CpuProfile, top: number): string {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const modules = new Map<string, number>();
  let idle = 0;
  let all = 0;
  for (const id of profile.samples) {
    const node = byId.get(id)!;
    all++;
    if (node.callFrame.functionName === '(idle)') {
      idle++;
      continue;
    }
    const key = keyOf(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + 1);
    const mod = moduleOf(node.callFrame);
    modules.set(mod, (modules.get(mod) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(byId.get(at)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + 1);
    }
  }
  const busy = all - idle;
  const pct = (n: number, of: number) => `${((n / of) * 100).toFixed(1).padStart(5)}%`;
  const lines: string[] = [];
  lines.push(`${all} samples over ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s; idle ${pct(idle, all)}; percentages below are of busy samples (${busy})`);
  lines.push('', 'self   total  function');
  for (const [key, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${pct(n, busy)} ${pct(total.get(key) ?? 0, busy)}  ${key}`);
  }
  lines.push('', 'self time by module');
  for (const [mod, n] of [...modules].sort((a, b) => b[1] - a[1]).slice(0, 20)) lines.push(`${pct(n, busy)}  ${mod}`);
  return lines.join('\n');
}



async function main(argv: string[]): Promise<void> {
  const top = Number(arg(argv, '--top') ?? 30);
  const analyze = arg(argv, '--analyze');
  if (analyze !== undefined) {
    console.log(summarize(JSON.parse(readFileSync(analyze, 'utf8')) as CpuProfile, top));
    return;
  }
  const system = arg(argv, '--system') ?? 'trpc-pubsub';
  const subs = Number(arg(argv, '--subs') ?? 1000);
  const seconds = Number(arg(argv, '--seconds') ?? 8);
  const roomCount = arg(argv, '--rooms') === undefined ? undefined : Number(arg(argv, '--rooms'));
  const perTurn = Number(arg(argv, '--per-turn') ?? (roomCount === undefined ? 1 : 10));
  // many-channels: `roomCount` connections, each in 2 rooms, 2 members per room.
  const rooms = roomCount === undefined ? undefined : { count: roomCount, perConn: 2 };
  const out = join(ROOT, 'bench', 'out', 'profiles');
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const { spec, loadgen, server } = await startPair(system, argv);
  const name = 'profile';
  const stamp2 = `${system.replace(/[^a-z0-9.-]/gi, '_')}-${subs}-${stamp}`;
  const serverFile = join(out, `${stamp2}.cpuprofile`);
  const loadgenFile = join(out, `loadgen-${stamp2}.cpuprofile`);
  const withLoadgen = argv.includes('--loadgen');
  const connect = (n: number, withRooms?: { count: number; perConn: number }) =>
    loadgen.call<{ ms: number; failed: number }>(
      'connect',
      { name, protocol: spec.protocol, port: server.info.port, n, concurrency: 100, timeoutMs: 20_000, ...(withRooms === undefined ? {} : { rooms: withRooms }) },
      120_000,
    );
  if (argv.includes('--connect')) {
    // Profile the connection path: warm with a few, then open `subs` under the profiler.
    await connect(200);
    await loadgen.call('disconnect', { name });
    await server.call('waitSubscribers', { n: 0, timeoutMs: 20_000 });
    await server.call('profileStart', { intervalUs: 250 });
    const result = await connect(subs);
    await server.call('waitSubscribers', { n: subs, timeoutMs: 20_000 });
    await server.call('profileStop', { file: serverFile });
    console.log(`${system}: ${subs} subscribers connected at ${Math.round((subs / result.ms) * 1000)} connections/s under the profiler`);
    console.log(`\nserver profile: ${serverFile}\n${summarize(JSON.parse(readFileSync(serverFile, 'utf8')) as CpuProfile, top)}`);
    await Promise.all([server.stop(2000), loadgen.stop(2000)]);
    return;
  }
  await connect(rooms === undefined ? subs : rooms.count, rooms);
  await server.call('waitSubscribers', { n: rooms === undefined ? subs : rooms.count * rooms.perConn, timeoutMs: 20_000 });
  const fanout = rooms === undefined ? subs : 2;
  const saturate = async (ms: number) => {
    await loadgen.call('countStart', { name });
    const sat = await server.call<SaturateResult>('saturate', { durationMs: ms, perTurn, ...(rooms === undefined ? {} : { rooms: rooms.count }) }, ms + 30_000);
    const got = await loadgen.call<{ frames: number; lastUs: number; complete: boolean; cpuUs: number; cpuWallUs: number }>(
      'countWait',
      { name, target: sat.events * fanout, idleMs: 3000, timeoutMs: 60_000 },
      70_000,
    );
    return { sat, got, deliveriesPerSec: (got.frames / (Math.max(got.lastUs, sat.endUs) - sat.startUs)) * 1e6 };
  };
  await saturate(1000);
  await server.call('profileStart', { intervalUs: 250 });
  if (withLoadgen) await loadgen.call('profileStart', { intervalUs: 250 });
  const run = await saturate(seconds * 1000);
  await server.call('profileStop', { file: serverFile });
  if (withLoadgen) await loadgen.call('profileStop', { file: loadgenFile });
  console.log(
    `${system}, ${rooms === undefined ? `${subs} subscribers` : `${rooms.count} rooms of 2`}, ${perTurn} event(s)/turn: ${Math.round(run.deliveriesPerSec).toLocaleString('en-US')} deliveries/s under the profiler, ` +
      `server CPU ${((run.sat.cpuUs / (run.sat.endUs - run.sat.startUs)) * 100).toFixed(0)}%, loadgen CPU ${((run.got.cpuUs / run.got.cpuWallUs) * 100).toFixed(0)}%` +
      `${run.got.complete ? '' : ' (INCOMPLETE)'}`,
  );
  console.log(`\nserver profile: ${serverFile}\n${summarize(JSON.parse(readFileSync(serverFile, 'utf8')) as CpuProfile, top)}`);
  if (withLoadgen) console.log(`\nloadgen profile: ${loadgenFile}\n${summarize(JSON.parse(readFileSync(loadgenFile, 'utf8')) as CpuProfile, 15)}`);
  await Promise.all([server.stop(2000), loadgen.stop(2000)]);
}

await runTool(main);
