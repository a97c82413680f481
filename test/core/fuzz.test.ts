/**
 * A seeded fuzz run against the real server: at least 10,000 generated
 * hostile frames (`fixtures/fuzz-frames.ts`) over a dozen connections,
 * reconnected whenever the server closes them, while a well-behaved stock
 * client receives a steady stream of events. The server must stay up and
 * healthy, the good client must miss nothing, every answer must be a tRPC
 * envelope and every close a documented code, no input may crash a
 * procedure, memory must stay bounded and the server idle afterwards.
 *
 * The seed is printed first; `FUZZ_SEED=<seed> npx vitest run test/core/fuzz.test.ts`
 * replays the same frames, and `FUZZ_FRAMES=<n>` sends more of them.
 */
import { randomInt } from 'node:crypto';
import { setInterval as every, setTimeout as pause } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TRPCError } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { CloseCode, type Logger } from 'trpc-pubsub';
import WebSocket from 'ws';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { closeCodeOfWsError } from '../../src/transport/ws/close-codes.js';
import { stockClient } from '../fixtures/clients.js';
import { FAMILIES, FrameGenerator, type Family, type FuzzFrame } from '../fixtures/fuzz-frames.js';
import { deferred, QUIET_WINDOW_MS } from '../fixtures/inbox.js';
import { expectIdle, idleState, startServer, type TestServer } from '../fixtures/server.js';

const SEED = seedFromEnv(process.env['FUZZ_SEED']);
/** Generated frames per run, at least (`FUZZ_FRAMES` raises it for a longer campaign). */
const FRAMES = Math.max(10_000, Number(process.env['FUZZ_FRAMES'] ?? 0) || 0);
/** Hostile connections at a time (each one reconnects when the server closes it). */
const CONNECTIONS = 12;
/** A hostile connection waits for the answer to a probe after this many frames (and after each big one): its backpressure. */
const PROBE_EVERY = 16;
/** How long a probe may wait for its answer before the server counts as hung. */
const PROBE_TIMEOUT_MS = 10_000;
/** The good client's events: one every 25 ms (40/s), published by server code. */
const PUBLISH_EVERY_MS = 25;
/** The channel key only the good client uses: the generator never puts it in a frame. */
const OBSERVED_KEY = 'observed-room';
const MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_BATCH_SIZE = 1000;
/**
 * The request limit per connection: a sustained rate above the pace of a
 * hostile connection (a few hundred requests a second) so the run stays
 * fast, and a burst smaller than the default (2,000) so the larger batch
 * floods run into it and the server's refuse-and-pause path gets fuzzed too.
 */
const RATE_LIMIT = { requestsPerSecond: 2000, burst: 400 };
const MiB = 1024 * 1024;
/** Bound on the growth of heap + external memory (after GC) across the run, server and clients together (one process). */
const MAX_HEAP_GROWTH = 64 * MiB;
/** Bound on the growth of the resident set across the run (freed memory is not always given back to the OS). */
const MAX_RSS_GROWTH = 256 * MiB;
/** Bound on the delay between a publish and its arrival at the good client. */
const MAX_DELIVERY_LATENCY_MS = 3000;
/** How many offending frames and replies a failure prints. */
const SAMPLES = 5;

/**
 * The close codes the server may send: `CloseCode`, plus those `ws` sends
 * when it refuses a frame (its receiver's documented error codes, mapped
 * by `close-codes.ts`).
 */
const WS_RECEIVER_ERRORS = [
  'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
  'WS_ERR_INVALID_UTF8',
  'WS_ERR_TOO_MANY_BUFFERED_PARTS',
  'WS_ERR_UNEXPECTED_RSV_1',
  'WS_ERR_UNEXPECTED_RSV_2_3',
  'WS_ERR_INVALID_OPCODE',
  'WS_ERR_EXPECTED_FIN',
  'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
  'WS_ERR_EXPECTED_MASK',
  'WS_ERR_UNEXPECTED_MASK',
  'WS_ERR_INVALID_CLOSE_CODE',
];
const DOCUMENTED_CLOSE_CODES = new Set<number>([
  ...Object.values(CloseCode),
  ...WS_RECEIVER_ERRORS.map((code) => closeCodeOfWsError(Object.assign(new Error(code), { code })) ?? 0),
]);
const ERROR_CODE_NAMES = new Set<string>(Object.keys(TRPC_ERROR_CODES_BY_KEY));

/** `FUZZ_SEED` (decimal or 0x-hex, 32 bits), or a fresh random seed. */
function seedFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return randomInt(2 ** 32);
  const seed = Number(value);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`FUZZ_SEED must be an integer in [0, 2^32), got ${JSON.stringify(value)}`);
  return seed;
}

// ---------------------------------------------------------------------------
// What the run observes.

/** An answer that should not have been sent, with the frames that came before it on its connection. */
interface Offence {
  slot: number;
  what: string;
  reply: string;
  recentFrames: string[];
}

/** Counts and samples of one run, shared by every hostile connection. */
class Tally {
  readonly framesByFamily = new Map<Family, number>(FAMILIES.map((family) => [family, 0]));
  bytesSent = 0;
  probes = 0;
  connectionsOpened = 0;
  upgradesRefused = 0;
  readonly replies = new Map<string, number>();
  readonly closesByServer = new Map<number, number>();
  /** Answers that are none of: a tRPC envelope, `PONG`, the reconnect notice. */
  readonly malformed: Offence[] = [];
  malformedCount = 0;
  /** `INTERNAL_SERVER_ERROR` answers. */
  readonly internal: Offence[] = [];
  internalCount = 0;
  /** Closes with a code outside {@link DOCUMENTED_CLOSE_CODES}, and socket errors on the client side. */
  readonly badCloses: string[] = [];
  /**
   * Connections that ended without a close frame (1006), by their tag: the
   * server's own record says whether it had decided to close them (a slow
   * consumer is terminated a second after its 4429 if its backlog does not drain).
   */
  readonly abnormal = new Map<string, string>();
  /** Of those, the ones the server had closed with a documented code first, by that code. */
  readonly terminatedAfter = new Map<number, number>();
  #tags = 0;

  /** A tag for a new connection, sent as its `x-fuzz-connection` header so the server's record of it can be found. */
  tag(slot: number): string {
    return `${slot}-${++this.#tags}`;
  }

  get framesSent(): number {
    let total = 0;
    for (const count of this.framesByFamily.values()) total += count;
    return total;
  }

  count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}

/** What a hostile connection may be answered, or why an answer is none of that. */
type Verdict = { ok: true; kind: string; id: unknown; errorCode?: string } | { ok: false; why: string };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isAnswerId = (id: unknown) => id === null || typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id));

/**
 * Classifies one frame the server sent: `PONG`, the reconnect notice, or a
 * tRPC response envelope (`{id, result:{type}}` or `{id, error:{code,
 * message, data:{code}}}` with a tRPC error code name whose JSON-RPC number
 * matches).
 */
function verdictOn(data: Buffer, isBinary: boolean): Verdict {
  if (isBinary) return { ok: false, why: 'a binary frame' };
  const text = data.toString('utf8');
  if (text === 'PONG') return { ok: true, kind: 'PONG', id: undefined };
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { ok: false, why: 'not JSON' };
  }
  if (!isRecord(message)) return { ok: false, why: 'not an object' };
  if (text === '{"id":null,"method":"reconnect"}') return { ok: true, kind: 'reconnect', id: null };
  const { id, jsonrpc, result, error } = message;
  const extra = Object.keys(message).filter((key) => key !== 'id' && key !== 'jsonrpc' && key !== 'result' && key !== 'error');
  if (extra.length > 0) return { ok: false, why: `unexpected field(s) ${extra.join(', ')}` };
  if (!('id' in message) || !isAnswerId(id)) return { ok: false, why: 'no valid id' };
  if (jsonrpc !== undefined && jsonrpc !== '2.0') return { ok: false, why: 'bad jsonrpc' };
  if (result !== undefined && error === undefined) {
    if (!isRecord(result) || !['started', 'data', 'stopped'].includes(result['type'] as string)) return { ok: false, why: 'bad result' };
    return { ok: true, kind: `result:${String(result['type'])}`, id };
  }
  if (error !== undefined && result === undefined) {
    if (!isRecord(error) || typeof error['message'] !== 'string' || typeof error['code'] !== 'number' || !isRecord(error['data'])) {
      return { ok: false, why: 'bad error envelope' };
    }
    const code = error['data']['code'];
    if (typeof code !== 'string' || !ERROR_CODE_NAMES.has(code)) return { ok: false, why: `data.code ${JSON.stringify(code)} is no tRPC error code` };
    if (TRPC_ERROR_CODES_BY_KEY[code as keyof typeof TRPC_ERROR_CODES_BY_KEY] !== error['code']) return { ok: false, why: `code ${String(error['code'])} is not ${code}'s` };
    return { ok: true, kind: `error:${code}`, id, errorCode: code };
  }
  return { ok: false, why: 'neither a result nor an error' };
}

/** A short printable form of a frame. */
function preview(data: string | Buffer, length = 300): string {
  if (typeof data !== 'string') return `<${data.length} bytes: ${data.subarray(0, length / 2).toString('hex')}${data.length > length / 2 ? '…' : ''}>`;
  return data.length > length ? `${JSON.stringify(data.slice(0, length))}… (${data.length} chars)` : JSON.stringify(data);
}

// ---------------------------------------------------------------------------
// Hostile connections.

/** How many frames each hostile connection remembers, for failure reports. */
const RECENT = 12;
/** The request header that tags a hostile connection (see {@link Tally.tag}). */
const TAG_HEADER = 'x-fuzz-connection';
const ABNORMAL_CLOSURE = 1006;

/**
 * Sorts the connections that ended without a close frame: accepted when the
 * server reports it had closed them itself with a documented code (then
 * terminated them), an offence otherwise.
 */
function judgeAbnormalCloses(srv: TestServer, tally: Tally): void {
  const reported = new Map(srv.disconnects.map(({ req, code }) => [req.headers[TAG_HEADER], code]));
  for (const [tag, description] of tally.abnormal) {
    const code = reported.get(tag);
    if (code !== undefined && code !== ABNORMAL_CLOSURE && DOCUMENTED_CLOSE_CODES.has(code)) tally.count(tally.terminatedAfter, code);
    else tally.badCloses.push(`${description}; the server reports ${String(code)}`);
  }
}

/** One hostile socket: sends frames, checks every answer, and waits for probes (its backpressure). */
class HostileConnection {
  readonly closed: Promise<void>;
  /** The last frames sent: what a report prints, and the start of their text (to find the one an answer is about). */
  readonly #recent: { shown: string; head: string }[] = [];
  readonly #probes = new Map<string, () => void>();
  #probeCount = 0;
  #closedByUs = false;

  private constructor(
    readonly slot: number,
    readonly tag: string,
    readonly socket: WebSocket,
    private readonly tally: Tally,
  ) {
    const closed = deferred();
    this.closed = closed.promise;
    socket.on('message', (data: Buffer, isBinary: boolean) => this.#answer(data, isBinary));
    let reset: string | undefined;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (socket.readyState === WebSocket.CONNECTING) return; // a refused upgrade: see open()
      // A reset is how a terminated connection may end; anything else means the client refused what the server sent.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') reset = error.code;
      else tally.badCloses.push(`slot ${slot}: the client refused a server frame: ${error.message}; ${this.#lastFrames()}`);
    });
    socket.on('close', (code) => {
      if (!this.#closedByUs) {
        tally.count(tally.closesByServer, code);
        if (code === ABNORMAL_CLOSURE || reset !== undefined) {
          tally.abnormal.set(tag, `slot ${slot}: ended without a close frame (${code}${reset === undefined ? '' : `, ${reset}`}); ${this.#lastFrames()}`);
        } else if (!DOCUMENTED_CLOSE_CODES.has(code)) {
          tally.badCloses.push(`slot ${slot}: closed with ${code}; ${this.#lastFrames()}`);
        }
      }
      for (const resolve of this.#probes.values()) resolve();
      this.#probes.clear();
      closed.resolve();
    });
  }

  /** Opens a connection; a refused upgrade (a connection cap) is retried a few times. */
  static async open(url: string, slot: number, tally: Tally): Promise<HostileConnection> {
    for (let attempt = 1; ; attempt++) {
      const tag = tally.tag(slot);
      const socket = new WebSocket(url, { headers: { [TAG_HEADER]: tag } });
      const connection = new HostileConnection(slot, tag, socket, tally);
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('open', () => resolve());
          socket.once('error', reject);
        });
        tally.connectionsOpened++;
        return connection;
      } catch (error) {
        tally.upgradesRefused++;
        if (attempt === 20) throw new Error(`slot ${slot}: the server refused 20 upgrades in a row`, { cause: error });
        await pause(10 * attempt); // backoff before the next attempt
      }
    }
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: FuzzFrame): void {
    this.#recent.push({ shown: `[${frame.family}] ${preview(frame.data)}`, head: typeof frame.data === 'string' ? frame.data.slice(0, 2000) : '' });
    if (this.#recent.length > RECENT) this.#recent.shift();
    this.socket.send(frame.data, { binary: frame.binary });
    this.tally.count(this.tally.framesByFamily, frame.family);
    this.tally.bytesSent += frame.bytes;
  }

  /** Sends a `hello` query and resolves on its answer (or the close); fails if neither comes in time. */
  probe(): Promise<void> {
    const id = `probe:${this.slot}:${++this.#probeCount}`;
    this.tally.probes++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#probes.delete(id);
        reject(new Error(`seed ${SEED}, slot ${this.slot}: no answer to a probe within ${PROBE_TIMEOUT_MS} ms; ${this.#lastFrames()}`));
      }, PROBE_TIMEOUT_MS);
      this.#probes.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.send(JSON.stringify({ id, method: 'query', params: { path: 'hello' } }));
    });
  }

  async close(): Promise<void> {
    this.#closedByUs = true;
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(1000);
    await this.closed;
  }

  #answer(data: Buffer, isBinary: boolean): void {
    const { tally } = this;
    const verdict = verdictOn(data, isBinary);
    if (!verdict.ok) {
      tally.count(tally.replies, 'malformed');
      if (tally.malformedCount++ < SAMPLES) tally.malformed.push(this.#offence(verdict.why, data, undefined));
      return;
    }
    if (typeof verdict.id === 'string' && verdict.id.startsWith('probe:')) {
      const resolve = this.#probes.get(verdict.id);
      if (resolve !== undefined) {
        this.#probes.delete(verdict.id);
        resolve();
        return;
      }
    }
    tally.count(tally.replies, verdict.kind);
    if (verdict.errorCode === 'INTERNAL_SERVER_ERROR' && tally.internalCount++ < SAMPLES) tally.internal.push(this.#offence('INTERNAL_SERVER_ERROR', data, verdict.id));
  }

  #lastFrames(): string {
    return `last frames: ${this.#recent.map(({ shown }) => shown).join(' | ')}`;
  }

  /** An offending answer with the frames before it; those that carry the answer's id are marked `⇒`. */
  #offence(what: string, data: Buffer, id: unknown): Offence {
    const needle = id === undefined || id === null ? undefined : `"id":${JSON.stringify(id)}`;
    const carries = (head: string) => needle !== undefined && (head.includes(`${needle},`) || head.includes(`${needle}}`));
    const recentFrames = this.#recent.map(({ shown, head }) => (carries(head) ? `⇒ ${shown}` : `  ${shown}`));
    return { slot: this.slot, what, reply: preview(data.toString('utf8'), 600), recentFrames };
  }
}

/**
 * One hostile slot: sends its stream's frames until `quota` are out,
 * waiting for a probe every {@link PROBE_EVERY} frames, and opens a new
 * connection whenever the server closes the current one (a quarter of them
 * announce `?connectionParams=1` and start with the stream's opening frame).
 */
async function hostileSlot(srv: TestServer, slot: number, quota: number, tally: Tally, live: Set<HostileConnection>, stop: AbortSignal): Promise<void> {
  const frames = new FrameGenerator(SEED, slot, { maxMessageBytes: MAX_MESSAGE_BYTES, maxBatchSize: MAX_BATCH_SIZE, forbidden: OBSERVED_KEY });
  let connectionNumber = 0;
  let sent = 0;
  while (sent < quota && !stop.aborted) {
    const withParams = ++connectionNumber % 4 === 0;
    const connection = await HostileConnection.open(withParams ? `${srv.url}?connectionParams=1` : srv.url, slot, tally);
    live.add(connection);
    if (withParams) {
      connection.send(frames.opening());
      sent++;
    }
    while (sent < quota && connection.open && !stop.aborted) {
      const frame = frames.next();
      connection.send(frame);
      sent++;
      if (sent % PROBE_EVERY === 0 || frame.bytes >= 64 * 1024) await connection.probe();
    }
    if (connection.open) await connection.probe();
    if (sent >= quota || stop.aborted) await connection.close();
    await connection.closed;
    live.delete(connection);
  }
}

// ---------------------------------------------------------------------------
// The well-behaved side.

/** Server code publishing one event on the observed channel per tick, until `stop`; resolves with what it published. */
async function publishSteadily(srv: TestServer, stop: AbortSignal): Promise<{ id: string; at: number }[]> {
  const published: { id: string; at: number }[] = [];
  try {
    for await (const _tick of every(PUBLISH_EVERY_MS, undefined, { signal: stop })) {
      const at = performance.now();
      const { id } = await srv.pubsub.publish('chat', { user: 'observer', text: `#${published.length}` }, { key: OBSERVED_KEY });
      published.push({ id, at });
    }
  } catch (error) {
    if (!stop.aborted) throw error;
  }
  return published;
}

/** Asks `GET /health` every 200 ms until `stop`; resolves with each answer's status (or failure). */
async function watchHealth(srv: TestServer, stop: AbortSignal): Promise<string[]> {
  const answers: string[] = [];
  try {
    for await (const _tick of every(200, undefined, { signal: stop })) {
      try {
        const response = await fetch(`${srv.httpUrl}/health`, { signal: AbortSignal.timeout(5000) });
        const body = (await response.json()) as { status?: string };
        answers.push(`${response.status} ${String(body.status)}`);
      } catch (error) {
        answers.push(`failed: ${String(error)}`);
      }
    }
  } catch (error) {
    if (!stop.aborted) throw error;
  }
  return answers;
}

/** A logger that counts records, keeps the first error-level ones and counts warnings by message. */
function countingLogger() {
  const counts = { debug: 0, info: 0, warn: 0, error: 0 };
  const errors: string[] = [];
  const warnings = new Map<string, number>();
  const at =
    (level: keyof typeof counts) =>
    (message: string, fields?: Record<string, unknown>): void => {
      counts[level]++;
      if (level === 'error' && errors.length < SAMPLES) errors.push(`${message} ${safePreview(fields)}`);
      if (level === 'warn') warnings.set(message, (warnings.get(message) ?? 0) + 1);
    };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { counts, errors, warnings, logger };
}

/** `JSON.stringify`, cut short, and never throwing (fuzz inputs may be too deep to stringify). */
function safePreview(value: unknown, length = 300): string {
  try {
    return preview(JSON.stringify(value) ?? String(value), length);
  } catch (error) {
    return `<unprintable: ${String(error)}>`;
  }
}

/** A socket-level error `onError` reports (a frame `ws` refused, a reset): not a procedure's failure. */
function isSocketError(error: TRPCError): boolean {
  const { cause } = error;
  return cause instanceof Error && typeof (cause as NodeJS.ErrnoException).code === 'string';
}

const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Heap + external bytes and RSS after a full collection. */
function memoryAfterGc(): { heap: number; rss: number } {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed + usage.external, rss: usage.rss };
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

// ---------------------------------------------------------------------------

interface Run {
  durationMs: number;
  tally: Tally;
  health: string[];
  healthAfter: string;
  published: { id: string; at: number }[];
  received: { id: string; at: number }[];
  gaps: unknown[];
  observerErrors: unknown[];
  observerCloses: (number | undefined)[];
  internalErrors: string[];
  log: ReturnType<typeof countingLogger>;
  memoryBefore: { heap: number; rss: number };
  memoryAfter: { heap: number; rss: number };
  /** Server state once the hostile connections left (the good client still subscribed). */
  stateWithObserverOnly: ReturnType<typeof idleState>;
}

/** The whole run: start, fuzz, drain, measure, leave. */
async function fuzzRun(): Promise<Run> {
  console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED} npx vitest run test/core/fuzz.test.ts)`);
  const log = countingLogger();
  const internalErrors: string[] = [];
  await using srv = await startServer({
    pubsub: { logger: log.logger },
    server: {
      logger: log.logger,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxBatchSize: MAX_BATCH_SIZE,
      rateLimit: RATE_LIMIT,
      onError: ({ error, path, type, input }) => {
        if (error.code !== 'INTERNAL_SERVER_ERROR' || isSocketError(error)) return;
        if (internalErrors.length < SAMPLES) {
          internalErrors.push(`${type} ${String(path)}: ${error.message}; input ${safePreview(input)}; cause ${String((error.cause as Error | undefined)?.stack ?? error.cause)}`);
        }
      },
    },
  });

  const observerCloses: (number | undefined)[] = [];
  const observer = stockClient(srv.url, { onClose: (cause) => observerCloses.push(cause?.code) });
  const received: { id: string; at: number }[] = [];
  const gaps: unknown[] = [];
  const observerErrors: unknown[] = [];
  const started = deferred();
  const subscription = observer.trpc.chat.events.subscribe(
    { key: OBSERVED_KEY },
    {
      onStarted: () => started.resolve(),
      onData: (item) => {
        if (item.data.kind === 'gap') gaps.push(item.data);
        else received.push({ id: item.id, at: performance.now() });
      },
      onError: (error) => {
        observerErrors.push(error);
        started.reject(error);
      },
    },
  );
  await started.promise;
  const memoryBefore = memoryAfterGc();

  const tally = new Tally();
  const live = new Set<HostileConnection>();
  const stopHostiles = new AbortController();
  const stopSteadyWork = new AbortController();
  const begin = performance.now();
  const publishing = publishSteadily(srv, stopSteadyWork.signal);
  const watching = watchHealth(srv, stopSteadyWork.signal);
  const quota = Math.ceil(FRAMES / CONNECTIONS);
  const slots = Array.from({ length: CONNECTIONS }, (_, slot) => hostileSlot(srv, slot, quota, tally, live, stopHostiles.signal));
  try {
    await Promise.all(slots);
  } finally {
    stopHostiles.abort();
    stopSteadyWork.abort();
    await Promise.all([...live].map((connection) => connection.close()));
    await Promise.allSettled(slots);
  }
  const [published, health] = await Promise.all([publishing, watching]);
  const durationMs = performance.now() - begin;
  // Everything published must arrive; waiting longer than the latency bound would only hide a loss.
  await vi.waitFor(() => expect(received.length).toBeGreaterThanOrEqual(published.length), { timeout: MAX_DELIVERY_LATENCY_MS, interval: 10 }).catch(() => undefined);
  await pause(QUIET_WINDOW_MS); // a bounded window in which no duplicate may arrive
  const healthResponse = await fetch(`${srv.httpUrl}/health`, { signal: AbortSignal.timeout(5000) });
  const healthAfter = `${healthResponse.status} ${String(((await healthResponse.json()) as { status?: string }).status)}`;

  const onlyObserver = { connections: 1, subscriptions: 1, channels: 1 };
  await vi
    .waitFor(() => expect(idleState(srv)).toMatchObject(onlyObserver), { timeout: 3000, interval: 10 })
    .catch(() => undefined);
  const stateWithObserverOnly = idleState(srv);
  judgeAbnormalCloses(srv, tally);
  // The fixture logs every connection it saw (with its request and socket): test bookkeeping, not server state.
  srv.connections.length = 0;
  srv.disconnects.length = 0;
  const memoryAfter = memoryAfterGc();
  const observerClosesDuringRun = [...observerCloses];

  subscription.unsubscribe();
  await observer.close();
  await expectIdle(srv);

  const run: Run = {
    durationMs,
    tally,
    health,
    healthAfter,
    published,
    received,
    gaps,
    observerErrors,
    observerCloses: observerClosesDuringRun,
    internalErrors,
    log,
    memoryBefore,
    memoryAfter,
    stateWithObserverOnly,
  };
  console.log(summary(run));
  return run;
}

function summary(run: Run): string {
  const { tally } = run;
  const sorted = <K>(map: Map<K, number>) => [...map.entries()].sort(([, a], [, b]) => b - a).map(([key, count]) => `${String(key)} ${count}`).join(', ');
  return [
    `fuzz seed ${SEED}: ${tally.framesSent} frames (${mib(tally.bytesSent)}) in ${(run.durationMs / 1000).toFixed(1)} s over ${tally.connectionsOpened} connections (${CONNECTIONS} at a time), ${tally.probes} probes`,
    `  families: ${sorted(tally.framesByFamily)}`,
    `  answers: ${sorted(tally.replies)}`,
    `  server closes: ${sorted(tally.closesByServer) || 'none'} (1006 after the server's own close: ${sorted(tally.terminatedAfter) || 'none'}); upgrades refused: ${tally.upgradesRefused}`,
    `  good client: ${run.received.length} of ${run.published.length} events, max latency ${maxLatency(run).toFixed(0)} ms; health checks: ${run.health.length}`,
    `  server logs: ${JSON.stringify(run.log.counts)} (warnings: ${sorted(run.log.warnings) || 'none'}); with only the good client left: ${JSON.stringify(run.stateWithObserverOnly)}`,
    `  memory after GC: heap+external ${mib(run.memoryBefore.heap)} → ${mib(run.memoryAfter.heap)}, rss ${mib(run.memoryBefore.rss)} → ${mib(run.memoryAfter.rss)}`,
  ].join('\n');
}

/** The longest publish-to-arrival delay of the events that arrived. */
function maxLatency(run: Run): number {
  const publishedAt = new Map(run.published.map(({ id, at }) => [id, at]));
  let max = 0;
  for (const { id, at } of run.received) max = Math.max(max, at - (publishedAt.get(id) ?? at));
  return max;
}

function describeOffences(offences: Offence[], count: number): string {
  return `seed ${SEED}: ${count} offending answer(s); first ones:\n${offences
    .map(({ slot, what, reply, recentFrames }) => `- slot ${slot}: ${what}: ${reply}\n  after frames:\n    ${recentFrames.join('\n    ')}`)
    .join('\n')}`;
}

describe(`the server under ${FRAMES.toLocaleString('en')} seeded hostile frames`, () => {
  let run: Run;
  beforeAll(async () => {
    run = await fuzzRun();
  }, 60_000 * Math.ceil(FRAMES / 10_000));

  it(`takes at least ${FRAMES} generated frames of every family over ${CONNECTIONS} connections, reconnecting the ones it closes`, () => {
    expect(run.tally.framesSent).toBeGreaterThanOrEqual(FRAMES);
    for (const family of FAMILIES) expect(run.tally.framesByFamily.get(family), family).toBeGreaterThan(0);
    expect(run.tally.connectionsOpened).toBeGreaterThan(CONNECTIONS);
  });

  it('answers GET /health with 200 "ok" throughout the run and after it', () => {
    expect(run.health.length).toBeGreaterThan(0);
    expect(run.health.filter((answer) => answer !== '200 ok')).toEqual([]);
    expect(run.healthAfter).toBe('200 ok');
  });

  it('delivers every event published during the run to the well-behaved client exactly once, in order, and promptly', () => {
    expect(run.published.length).toBeGreaterThan(0);
    expect(run.received.map(({ id }) => id)).toEqual(run.published.map(({ id }) => id));
    expect(run.gaps).toEqual([]);
    expect(run.observerErrors).toEqual([]);
    expect(run.observerCloses).toEqual([]);
    expect(maxLatency(run)).toBeLessThan(MAX_DELIVERY_LATENCY_MS);
  });

  it('answers hostile connections only with tRPC envelopes (a tRPC error code in data.code), PONG or the reconnect notice', () => {
    expect(run.tally.malformed, describeOffences(run.tally.malformed, run.tally.malformedCount)).toEqual([]);
  });

  it(`closes hostile connections only with documented codes (${[...DOCUMENTED_CLOSE_CODES].sort((a, b) => a - b).join(', ')}), or terminates them after one`, () => {
    expect(run.tally.badCloses).toEqual([]);
    for (const code of run.tally.closesByServer.keys()) if (code !== ABNORMAL_CLOSURE) expect(DOCUMENTED_CLOSE_CODES).toContain(code);
  });

  it('never answers INTERNAL_SERVER_ERROR nor logs an error: no fuzz input crashes a procedure', () => {
    expect(run.tally.internal, describeOffences(run.tally.internal, run.tally.internalCount)).toEqual([]);
    expect(run.internalErrors).toEqual([]);
    expect(run.log.errors).toEqual([]);
  });

  it(`keeps memory bounded: heap + external grows less than ${mib(MAX_HEAP_GROWTH)}, RSS less than ${mib(MAX_RSS_GROWTH)}`, () => {
    expect(run.memoryAfter.heap - run.memoryBefore.heap).toBeLessThan(MAX_HEAP_GROWTH);
    expect(run.memoryAfter.rss - run.memoryBefore.rss).toBeLessThan(MAX_RSS_GROWTH);
  });

  it('holds nothing for the hostile connections once they left: only the good client and its one subscription', () => {
    expect(run.stateWithObserverOnly).toMatchObject({ connections: 1, subscriptions: 1, channels: 1 });
  });
});
