/**
 * The demo (`npm start`): builds the web app when its build is missing or
 * stale (with Vite, in-process), then serves it with chat rooms, presence, a ticker and the
 * WebSocket/SSE endpoints (see `demo.ts`).
 *
 *   npm start                                   # http://127.0.0.1:3000/
 *   npm start -- --redis redis://127.0.0.1:6379 --port 3001
 *   npm start -- --redis redis://127.0.0.1:6379 --port 3002
 *   curl http://127.0.0.1:3000/trigger              # publishes on `news`
 *   curl 'http://127.0.0.1:3000/trigger?topic=tick' # publishes on `tick`
 *
 * Options: `--port N` (or PORT; 0 picks a free port), `--host H`,
 * `--redis URL` (or REDIS_URL), `--tick-ms N`, `--build` / `--no-build`
 * (build `examples/web` first when stale: the default under `npm start`
 * only), `--web-dir DIR` (serve that folder; builds into it with `--build`).
 */
import { parseArgs } from 'node:util';
import type { Engine } from 'trpc-pubsub';
import { ensureWebBuild } from './demo-build.js';
import { DEFAULT_TICK_MS, DEFAULT_WEB_DIR, startDemo, type Demo } from './demo.js';

const USAGE = 'usage: demo-server.ts [--port N] [--host H] [--redis URL] [--tick-ms N] [--build | --no-build] [--web-dir DIR]';

let values: { port?: string; host?: string; redis?: string; 'tick-ms'?: string; build?: boolean; 'no-build'?: boolean; 'web-dir'?: string };
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      redis: { type: 'string' },
      'tick-ms': { type: 'string' },
      build: { type: 'boolean' },
      'no-build': { type: 'boolean' },
      'web-dir': { type: 'string' },
    },
    strict: true,
  }));
} catch (error) {
  fail(2, `demo: ${(error as Error).message}\n${USAGE}`);
}
const port = integer('--port', values.port ?? process.env['PORT'] ?? '3000');
const tickMs = integer('--tick-ms', values['tick-ms'] ?? String(DEFAULT_TICK_MS));
const host = values.host ?? '127.0.0.1';
const redisUrl = values.redis ?? (process.env['REDIS_URL'] || undefined);
const webDir = values['web-dir'] ?? DEFAULT_WEB_DIR;

// `npm start` builds the web app when its build is missing or stale; run directly (tests, an installed copy) it
// serves what is built, unless `--build`.
const build = values['no-build'] !== true && (values.build === true || process.env['npm_lifecycle_event'] === 'start');
if (build) {
  const result = await ensureWebBuild({ outDir: webDir });
  if (result.status === 'built') console.log(`Built:     examples/web in ${result.ms} ms`);
  else if (result.status === 'unavailable') console.log(`Web app:   not built here: ${result.reason}`);
}

let engine: Engine | undefined;
if (redisUrl !== undefined) {
  const { redisEngine } = await import('trpc-pubsub/redis'); // only then: a memory-only demo needs none of the Redis packages
  engine = redisEngine({ url: redisUrl });
}

let demo: Demo;
try {
  demo = await startDemo({ port, host, engine, tickMs, webDir });
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code;
  fail(
    1,
    code === 'EADDRINUSE'
      ? `demo: port ${port} is already in use; stop what runs there or pick another with PORT=…`
      : `demo: cannot listen on ${host}:${port}: ${String(error)}`,
  );
}
const origin = demo.url.replace(/\/$/, '');
console.log(`Engine:    ${redisUrl === undefined ? 'memory (one process)' : `redis ${withoutPassword(redisUrl)}`}`);
console.log(`Web app:   ${demo.url} (?transport=sse for SSE, ?name=ann)`);
console.log(`WebSocket: ${demo.wsUrl}`);
console.log(`HTTP/SSE:  ${origin}/trpc/<procedure>`);
console.log(`Trigger:   ${origin}/trigger publishes on "news"; ?topic=tick publishes on "tick"`);

/** Ctrl-C / SIGTERM: tell clients to reconnect elsewhere, close sockets, stop the hub. */
async function shutdown(): Promise<void> {
  await demo.close();
  console.log('Stopped.');
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());

function integer(option: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) fail(2, `demo: ${option} must be a whole number ≥ 0, got ${JSON.stringify(raw)}\n${USAGE}`);
  return value;
}

/** `url` with its password hidden, for the banner. */
function withoutPassword(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function fail(code: number, message: string): never {
  console.error(message);
  process.exit(code);
}
