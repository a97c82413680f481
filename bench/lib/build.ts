/**
 * Compiles trpc-pubsub (src/, client/) with tsc into bench/out/dist, as
 * `npm run build` would (without type checking or declarations), so that the
 * bench measures the JavaScript users run. Running src/ through tsx instead
 * (`--source`) is not the same program: tsx compiles with esbuild's
 * `keepNames`, which wraps every named arrow function in `__name(…)`
 * (an `Object.defineProperty` per closure created, and a property backing
 * store on each: about 0.5 KB more per subscriber).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './ipc.js';

/** Environment variables the server entries read to find the library. */
export interface LibraryEnv {
  BENCH_TRPC_PUBSUB?: string;
  BENCH_TRPC_PUBSUB_REDIS?: string;
  BENCH_TRPC_PUBSUB_POSTGRES?: string;
  BENCH_TRPC_PUBSUB_CLIENT?: string;
  [name: string]: string | undefined;
}

/** Builds the library unless `source`; returns the environment telling the servers where it is. */
export function buildLibrary(source: boolean): LibraryEnv {
  if (source) return {};
  const outDir = join(ROOT, 'bench', 'out', 'dist');
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      outDir,
      '--noCheck',
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const env: LibraryEnv = { BENCH_TRPC_PUBSUB: join(outDir, 'src', 'index.js') };
  const redis = join(outDir, 'src', 'engine', 'redis.js');
  if (existsSync(redis)) env.BENCH_TRPC_PUBSUB_REDIS = redis;
  const postgres = join(outDir, 'src', 'engine', 'postgres.js');
  if (existsSync(postgres)) env.BENCH_TRPC_PUBSUB_POSTGRES = postgres;
  const client = join(outDir, 'client', 'index.js');
  if (existsSync(client)) env.BENCH_TRPC_PUBSUB_CLIENT = client;
  return env;
}
