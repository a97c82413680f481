/**
 * Where a server's memory per idle subscriber goes: heap snapshots before
 * and after connecting N subscribers, diffed by constructor, divided by N.
 *
 *   npx tsx --conditions=@trpc-pubsub/source bench/heap.ts [--system trpc-pubsub] [--subs 1000] [--top 30]
 *   npx tsx --conditions=@trpc-pubsub/source bench/heap.ts --leak …   what stays after the subscribers disconnect
 *   npx tsx bench/heap.ts --diff BEFORE.heapsnapshot AFTER.heapsnapshot --subs N
 *
 * Snapshots land in bench/out/heap/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib/ipc.js';
import { arg, runTool, startPair } from './lib/tool.js';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Bucket {
  count: number;
  bytes: number;
}

const BORING = new Set(['string', 'concatenated string', 'sliced string', 'number', 'code']);

/**
 * Self size and count per `type:constructor`, and per
 * `type:constructor ← holder.edge` (the object's first strong retainer,
 * which says who keeps it: `Object ← IncomingMessage.headers`).
 */
function buckets(file: string): { byName: Map<string, Bucket>; byHolder: Map<string, Bucket> } {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const types = meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const edgeCountAt = fields.indexOf('edge_count');
  const edgeWidth = meta.edge_fields.length;
  const edgeTypeAt = meta.edge_fields.indexOf('type');
  const edgeNameAt = meta.edge_fields.indexOf('name_or_index');
  const edgeToAt = meta.edge_fields.indexOf('to_node');
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const count = nodes.length / width;
  const label = (index: number) => {
    const type = types[nodes[index * width + typeAt]!]!;
    let name = strings[nodes[index * width + nameAt]!] ?? '';
    if (BORING.has(type)) name = '';
    if (name.length > 50) name = `${name.slice(0, 47)}…`;
    return name === '' ? `(${type})` : `${type}:${name}`;
  };
  // First strong retainer of each node.
  const holder = new Int32Array(count).fill(-1);
  const holderEdge = new Array<string>(count);
  let edge = 0;
  for (let n = 0; n < count; n++) {
    const edgesOfNode = nodes[n * width + edgeCountAt]!;
    for (let e = 0; e < edgesOfNode; e++, edge += edgeWidth) {
      const edgeType = edgeTypes[edges[edge + edgeTypeAt]!]!;
      if (edgeType === 'weak' || edgeType === 'shortcut') continue;
      const to = edges[edge + edgeToAt]! / width;
      if (holder[to] !== -1) continue;
      holder[to] = n;
      const raw = edges[edge + edgeNameAt]!;
      holderEdge[to] = edgeType === 'element' || edgeType === 'hidden' ? `[${raw}]` : (strings[raw] ?? String(raw));
    }
  }
  const byName = new Map<string, Bucket>();
  const byHolder = new Map<string, Bucket>();
  const add = (map: Map<string, Bucket>, key: string, bytes: number) => {
    const bucket = map.get(key) ?? { count: 0, bytes: 0 };
    bucket.count++;
    bucket.bytes += bytes;
    map.set(key, bucket);
  };
  for (let n = 0; n < count; n++) {
    const bytes = nodes[n * width + sizeAt]!;
    const key = label(n);
    add(byName, key, bytes);
    const h = holder[n]!;
    const edgeName = holderEdge[n] ?? '';
    add(byHolder, h === -1 ? key : `${key}  ← ${label(h)}.${edgeName.length > 30 ? `${edgeName.slice(0, 27)}…` : edgeName}`, bytes);
  }
  return { byName, byHolder };
}

function table(before: Map<string, Bucket>, after: Map<string, Bucket>, subs: number, top: number): { lines: string[]; total: number } {
  const rows: { key: string; count: number; bytes: number }[] = [];
  let total = 0;
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    total += a.bytes - b.bytes;
    rows.push({ key, count: a.count - b.count, bytes: a.bytes - b.bytes });
  }
  for (const [key, b] of before) if (!after.has(key)) total -= b.bytes;
  rows.sort((x, y) => y.bytes - x.bytes);
  const lines = [' B/sub  objects/sub  what'];
  for (const row of rows.slice(0, top)) {
    lines.push(`${(row.bytes / subs).toFixed(0).padStart(6)}  ${(row.count / subs).toFixed(2).padStart(11)}  ${row.key}`);
  }
  return { lines, total };
}

/** The constructors that grew most between two snapshots, per subscriber, then the same by retainer. */
export function diff(beforeFile: string, afterFile: string, subs: number, top: number): string {
  const before = buckets(beforeFile);
  const after = buckets(afterFile);
  const byName = table(before.byName, after.byName, subs, top);
  const byHolder = table(before.byHolder, after.byHolder, subs, top);
  return [
    `heap growth ${(byName.total / subs).toFixed(0)} B per subscriber (${subs} subscribers)`,
    '',
    'by constructor',
    ...byName.lines,
    '',
    'by constructor and first retainer (holder.property)',
    ...byHolder.lines,
  ].join('\n');
}



async function main(argv: string[]): Promise<void> {
  const subs = Number(arg(argv, '--subs') ?? 1000);
  const top = Number(arg(argv, '--top') ?? 30);
  const diffAt = argv.indexOf('--diff');
  if (diffAt !== -1) {
    console.log(diff(argv[diffAt + 1]!, argv[diffAt + 2]!, subs, top));
    return;
  }
  const system = arg(argv, '--system') ?? 'trpc-pubsub';
  const out = join(ROOT, 'bench', 'out', 'heap');
  mkdirSync(out, { recursive: true });
  const { spec, loadgen, server } = await startPair(system, argv);
  const connect = async (n: number) => {
    await loadgen.call('connect', { name: 'heap', protocol: spec.protocol, port: server.info.port, n, concurrency: 100, timeoutMs: 20_000 }, 120_000);
    await server.call('waitSubscribers', { n, timeoutMs: 20_000 });
  };
  await connect(100);
  await loadgen.call('disconnect', { name: 'heap' });
  await server.call('waitSubscribers', { n: 0, timeoutMs: 20_000 });
  const tag = system.replace(/[^a-z0-9.-]/gi, '_');
  const before = join(out, `${tag}-0.heapsnapshot`);
  const after = join(out, `${tag}-${subs}.heapsnapshot`);
  await server.call('heapSnapshot', { file: before }, 120_000);
  await connect(subs);
  if (argv.includes('--leak')) {
    // What stays behind once the subscribers have disconnected (should be ~0).
    await loadgen.call('disconnect', { name: 'heap' });
    await server.call('waitSubscribers', { n: 0, timeoutMs: 20_000 });
  }
  // Let finalizers and deferred work run: objects kept for a moment after a connection opens are not its cost.
  await new Promise((resolve) => setTimeout(resolve, Number(arg(argv, '--settle') ?? 2000)));
  await server.call('heapSnapshot', { file: after }, 120_000);
  const memory = await server.call<NodeJS.MemoryUsage>('memory');
  console.log(`${system}: rss ${(memory.rss / 2 ** 20).toFixed(1)} MiB with ${subs} subscribers`);
  console.log(diff(before, after, subs, top));
  await Promise.all([server.stop(2000), loadgen.stop(2000)]);
}

await runTool(main);
