/**
 * Private brokers for bench/durability.ts: a `redis-server` and a
 * PostgreSQL cluster of the bench's own, on free ports, pinned with
 * `taskset`, without persistence (Redis `--save '' --appendonly no`;
 * PostgreSQL `fsync=off`), killed at the end (never the shared 6379/5432).
 * Both can report their CPU time (from /proc), and Redis its INFO.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { sleep } from './clock.js';
import { track } from './ipc.js';

const CLOCK_TICKS = 100;

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** CPU time (user + system) of process `pid` in microseconds, from /proc/<pid>/stat; NaN when unreadable. */
export function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1e6;
  } catch {
    return Number.NaN;
  }
}

/** Pids whose parent is `parent` (PostgreSQL backends of a postmaster). */
function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${what} did not start`);
    await sleep(50);
  }
}

/** A private `redis-server`. */
export interface PrivateRedis {
  url: string;
  pid: number;
  /** Its CPU time so far, µs. */
  cpuUs(): number;
  /** `INFO <section>` as key → value. */
  info(section: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** Starts `redis-server` from PATH on a free port, pinned to `cpu`. */
export async function startRedis(cpu = 1): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn('taskset', ['-c', String(cpu), 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  track(child);
  await waitForPort(port, child, 'redis-server');
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  admin.on('error', () => {});
  await admin.connect();
  return {
    url,
    pid: child.pid!,
    cpuUs: () => processCpuUs(child.pid!),
    async info(section: string) {
      const text = await admin.info(section);
      const out: Record<string, string> = {};
      for (const line of text.split('\r\n')) {
        const at = line.indexOf(':');
        if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
      }
      return out;
    },
    async stop() {
      admin.disconnect();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A private PostgreSQL cluster. */
export interface PrivatePostgres {
  url: string;
  /** CPU time of the postmaster and all its backends so far, µs (a backend that exited counts up to its last reading). */
  cpuUs(): number;
  stop(): Promise<void>;
}

/** Why no private PostgreSQL can start here, or the directory of `initdb` and `postgres`. */
function postgresBin(): { dir: string } | { reason: string } {
  const fromEnv = process.env['PG_BIN'];
  if (fromEnv !== undefined) return existsSync(join(fromEnv, 'postgres')) ? { dir: fromEnv } : { reason: `no postgres in PG_BIN=${fromEnv}` };
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest === undefined ? { reason: `no PostgreSQL server binaries under ${root} (or set PG_BIN)` } : { dir: join(root, newest, 'bin') };
}

/** uid/gid of `postgres` when running as root (PostgreSQL refuses to run as root). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root and there is no postgres user');
  return { uid: Number(uid), gid: Number(gid) };
}

/** `initdb` into a temporary directory and `postgres` on a free port, pinned to `cpu` (fsync off). */
export async function startPostgres(cpu = 1): Promise<PrivatePostgres> {
  const bin = postgresBin();
  if ('reason' in bin) throw new Error(bin.reason);
  const user = postgresUser();
  const root = mkdtempSync(join(tmpdir(), 'trpc-pubsub-bench-pg-'));
  if (user !== undefined) chownSync(root, user.uid, user.gid);
  const init = spawnSync(join(bin.dir, 'initdb'), ['-D', join(root, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'], { ...user, encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.error?.message ?? init.stderr}`);
  }
  const port = await freePort();
  const child = spawn(
    'taskset',
    ['-c', String(cpu), join(bin.dir, 'postgres'), '-D', join(root, 'data'), '-p', String(port), '-k', root, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
    { ...user, stdio: 'ignore' },
  );
  track(child);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error('postgres exited while starting');
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`postgres did not answer on ${port}: ${String(error)}`);
      await sleep(50);
    } finally {
      await client.end().catch(() => {});
    }
  }
  const pid = child.pid!;
  // Backends come and go (pool connections): count each one's CPU up to its last reading, exited ones included.
  const lastSeen = new Map<number, number>();
  let total = 0;
  const cpuUs = () => {
    for (const p of [pid, ...childrenOf(pid)]) {
      const now = processCpuUs(p);
      if (!Number.isFinite(now)) continue;
      total += now - (lastSeen.get(p) ?? 0);
      lastSeen.set(p, now);
    }
    return total;
  };
  return {
    url,
    cpuUs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
