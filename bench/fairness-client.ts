/**
 * The clients of bench/fairness.ts, in a process of their own (pinned by the
 * orchestrator). The same entry serves two roles, one per process:
 *
 * - *probe*: `n` subscribers of the `probe` topic and one probe publisher,
 *   all {@link MiniWs} sockets speaking the tRPC v11 protocol. The publisher
 *   sends `probe.publish` mutations at a fixed rate, each stamped with its
 *   send time on the shared clock (`"t"`); every subscriber reads every
 *   frame and records publish-to-delivery latency.
 * - *flood*: one connection sending `flood.publish` mutations as fast as its
 *   socket takes them (a write, then the next once the socket drained),
 *   either reading and counting its replies (accepted, `TOO_MANY_REQUESTS`,
 *   other errors) or never reading its socket at all (a client that floods
 *   without reading the answers, for the server's output budget).
 *
 * Controlled over IPC; see the command table at the bottom.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpuUs, nowUs, sleep } from './lib/clock.js';
import { serve } from './lib/ipc.js';
import { MiniWs, type FrameSink, type MiniWsHandler } from './lib/mini-ws.js';
import { BODY } from './lib/payload.js';

const T_MARK = Buffer.from('"t":');
const SEQ_MARK = Buffer.from('"seq":');
const ERROR_MARK = Buffer.from('"error"');
const RESULT_MARK = Buffer.from('"result"');
const STARTED_MARK = Buffer.from('"started"');
const RATE_LIMITED_MARK = Buffer.from('TOO_MANY_REQUESTS');

function numberAfter(payload: Buffer, mark: Buffer): number {
  const at = payload.indexOf(mark);
  if (at === -1) return Number.NaN;
  return Number.parseFloat(payload.toString('latin1', at + mark.length, at + mark.length + 24));
}

function isPing(payload: Buffer): boolean {
  return payload.length === 4 && payload.toString('latin1') === 'PING';
}

/** Every frame is read (`capture` stays on), so nothing is ever counted unread. */
const NO_SINK: FrameSink = { counted: 0, lastUs: 0, progress() {} };

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ------------------------------------------------------------------- probe

/** Sampling interval of the loop-delay histogram, ms (its samples include it: it is subtracted). */
const LAG_RESOLUTION_MS = 2;

/** The probe's state: subscribers, the publisher, and the current window's samples. */
const probe = {
  subscribers: [] as ProbeSubscriber[],
  publisher: undefined as ProbePublisher | undefined,
  nextSeq: 1,
  /** Seqs of the current window: [firstSeq, lastSeq]; deliveries outside it are not recorded. */
  firstSeq: 1,
  lastSeq: 0,
  /** Latency samples (µs) of the current window, one per delivery. */
  latencyUs: [] as number[],
  delivered: 0,
  subscriberErrors: 0,
  publishErrors: 0,
  firstError: undefined as string | undefined,
  closes: 0,
  closeReasons: new Map<string, number>(),
  closing: false,
  lag: monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS }),
};
probe.lag.enable();

class ProbeSubscriber implements MiniWsHandler {
  readonly ws: MiniWs;
  ready = false;
  readonly whenReady: Promise<void>;
  #settle!: (error?: string) => void;

  constructor(port: number) {
    this.whenReady = new Promise((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(new Error(error)));
    });
    this.ws = new MiniWs(port, '/trpc', this, NO_SINK);
  }

  open(ws: MiniWs): void {
    ws.sendText('{"id":1,"method":"subscription","params":{"path":"probe.events","input":{}}}');
  }

  text(ws: MiniWs, payload: Buffer, recvUs: number): void {
    if (isPing(payload)) {
      ws.sendText('PONG');
      return;
    }
    if (!this.ready) {
      if (payload.includes(STARTED_MARK)) {
        this.ready = true;
        this.#settle();
      } else this.#settle(`unexpected frame before started: ${payload.toString('utf8', 0, 300)}`);
      return;
    }
    if (payload.includes(ERROR_MARK)) {
      probe.subscriberErrors++;
      probe.firstError ??= payload.toString('utf8', 0, 300);
      return;
    }
    const seq = numberAfter(payload, SEQ_MARK);
    if (seq < probe.firstSeq || seq > probe.lastSeq) return;
    probe.delivered++;
    probe.latencyUs.push(recvUs - numberAfter(payload, T_MARK));
  }

  close(_ws: MiniWs, reason: string): void {
    this.#settle(reason);
    if (probe.closing) return;
    probe.closes++;
    probe.closeReasons.set(reason, (probe.closeReasons.get(reason) ?? 0) + 1);
  }
}

class ProbePublisher implements MiniWsHandler {
  readonly ws: MiniWs;
  readonly whenOpen: Promise<void>;
  #settle!: (error?: string) => void;

  constructor(port: number) {
    this.whenOpen = new Promise((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(new Error(error)));
    });
    this.ws = new MiniWs(port, '/trpc', this, NO_SINK);
  }

  open(): void {
    this.#settle();
  }

  text(ws: MiniWs, payload: Buffer): void {
    if (isPing(payload)) ws.sendText('PONG');
    else if (payload.includes(ERROR_MARK)) {
      probe.publishErrors++;
      probe.firstError ??= payload.toString('utf8', 0, 300);
    }
  }

  close(_ws: MiniWs, reason: string): void {
    this.#settle(reason);
    if (probe.closing) return;
    probe.closes++;
    probe.closeReasons.set(`publisher: ${reason}`, (probe.closeReasons.get(`publisher: ${reason}`) ?? 0) + 1);
  }

  /** Publishes probe event `seq`, stamped now. */
  send(seq: number): void {
    const t = nowUs();
    this.ws.sendText(`{"id":${seq},"method":"mutation","params":{"path":"probe.publish","input":{"data":{"seq":${seq},"t":${t},"body":"${BODY}"}}}}`);
  }
}

// ------------------------------------------------------------------- flood

interface FloodState {
  ws: MiniWs;
  read: boolean;
  running: boolean;
  openedUs: number;
  /** Requests written to the socket. */
  sent: number;
  bytes: number;
  /** Replies read (reading mode only). */
  accepted: number;
  rejected: number;
  otherErrors: number;
  firstError: string | undefined;
  closedUs: number | undefined;
  closeReason: string | undefined;
}

let flood: FloodState | undefined;
let floodId = 0;

/** `count` masked text frames (mask key 0, so the payload needs no XOR) of `flood.publish` requests, in one buffer. */
function floodBatch(count: number): Buffer {
  const texts: string[] = [];
  let total = 0;
  const t = nowUs();
  for (let i = 0; i < count; i++) {
    const id = ++floodId;
    const text = `{"id":${id},"method":"mutation","params":{"path":"flood.publish","input":{"data":{"seq":${id},"t":${t},"body":"${BODY}"}}}}`;
    texts.push(text);
    total += (text.length < 126 ? 6 : 8) + text.length;
  }
  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  for (const text of texts) {
    const len = text.length;
    buf[at++] = 0x81;
    if (len < 126) buf[at++] = 0x80 | len;
    else {
      buf[at++] = 0x80 | 126;
      buf.writeUInt16BE(len, at);
      at += 2;
    }
    buf.writeUInt32BE(0, at);
    at += 4;
    at += buf.write(text, at, 'latin1');
  }
  return buf;
}

class FloodConn implements MiniWsHandler {
  constructor(readonly state: () => FloodState | undefined) {}

  open(ws: MiniWs): void {
    const s = this.state();
    if (s === undefined) return;
    // Never read again: replies pile up in the server's buffers (and the kernel's).
    if (!s.read) ws.socket.pause();
    s.openedUs = nowUs();
    pump(s);
  }

  text(ws: MiniWs, payload: Buffer): void {
    const s = this.state();
    if (s === undefined) return;
    if (isPing(payload)) ws.sendText('PONG');
    else if (payload.includes(RATE_LIMITED_MARK)) s.rejected++;
    else if (payload.includes(ERROR_MARK)) {
      s.otherErrors++;
      s.firstError ??= payload.toString('utf8', 0, 300);
    } else if (payload.includes(RESULT_MARK)) s.accepted++;
  }

  close(_ws: MiniWs, reason: string): void {
    const s = this.state();
    if (s === undefined || s.closedUs !== undefined) return;
    s.closedUs = nowUs();
    s.closeReason = reason;
    s.running = false;
  }
}

const FLOOD_BATCH = 128;

/** Writes batches while the socket takes them; continues on `drain` (at most 16 batches per loop turn). */
function pump(s: FloodState): void {
  for (let i = 0; i < 16; i++) {
    if (!s.running || !s.ws.open) return;
    const batch = floodBatch(FLOOD_BATCH);
    s.sent += FLOOD_BATCH;
    s.bytes += batch.length;
    if (!s.ws.socket.write(batch)) {
      s.ws.socket.once('drain', () => pump(s));
      return;
    }
  }
  setImmediate(() => pump(s));
}

function floodStats(s: FloodState) {
  return {
    read: s.read,
    openedUs: s.openedUs,
    nowUs: nowUs(),
    sent: s.sent,
    bytes: s.bytes,
    accepted: s.accepted,
    rejected: s.rejected,
    otherErrors: s.otherErrors,
    firstError: s.firstError,
    closedUs: s.closedUs ?? null,
    closeReason: s.closeReason ?? null,
  };
}

/** What {@link floodStats} returns. */
export type FloodStats = ReturnType<typeof floodStats>;

serve(
  {
    /** Opens `n` probe subscribers (`concurrency` handshakes at a time) and the probe publisher. */
    async probeConnect({ port, n, concurrency, timeoutMs }: { port: number; n: number; concurrency: number; timeoutMs: number }) {
      const startUs = nowUs();
      let next = 0;
      let failed = 0;
      let firstError: string | undefined;
      const worker = async () => {
        while (next < n) {
          next++;
          const sub = new ProbeSubscriber(port);
          probe.subscribers.push(sub);
          try {
            await Promise.race([sub.whenReady, sleep(timeoutMs).then(() => Promise.reject(new Error('subscribe timed out')))]);
          } catch (error) {
            failed++;
            firstError ??= String(error);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
      const publisher = new ProbePublisher(port);
      probe.publisher = publisher;
      await Promise.race([publisher.whenOpen, sleep(timeoutMs).then(() => Promise.reject(new Error('probe publisher did not connect')))]);
      return { opened: n - failed, failed, firstError, ms: (nowUs() - startUs) / 1000 };
    },

    /**
     * Publishes `eventsPerSec` probe events for `durationMs` (fixed
     * schedule); resolves when the last one is sent. The window's samples
     * are reset first.
     */
    probeWindow({ eventsPerSec, durationMs }: { eventsPerSec: number; durationMs: number }) {
      const publisher = probe.publisher;
      if (publisher === undefined) throw new Error('probeConnect first');
      probe.firstSeq = probe.nextSeq;
      probe.lastSeq = probe.nextSeq - 1;
      probe.latencyUs = [];
      probe.delivered = 0;
      probe.subscriberErrors = 0;
      probe.publishErrors = 0;
      probe.firstError = undefined;
      probe.lag.reset();
      const cpu0 = cpuUs();
      const interval = 1e6 / eventsPerSec;
      const startUs = nowUs();
      const endAt = startUs + durationMs * 1000;
      let due = startUs;
      let late = 0;
      return new Promise<{ sent: number; firstSeq: number; lastSeq: number; startUs: number; endUs: number; late: number; cpuUs: number }>((resolve) => {
        const tick = () => {
          let now = nowUs();
          if (now >= endAt) {
            resolve({ sent: probe.lastSeq - probe.firstSeq + 1, firstSeq: probe.firstSeq, lastSeq: probe.lastSeq, startUs, endUs: now, late, cpuUs: cpuUs() - cpu0 });
            return;
          }
          if (now - due > interval) late++;
          while (due <= now) {
            const seq = probe.nextSeq++;
            probe.lastSeq = seq;
            publisher.send(seq);
            due += interval;
          }
          now = nowUs();
          setTimeout(tick, Math.max(0, (due - now) / 1000));
        };
        tick();
      });
    },

    /**
     * Waits until every subscriber got every event of the window (or
     * nothing arrived for `idleMs`), then returns the window's latency
     * percentiles; an event that never arrived counts as an infinite sample.
     */
    async probeCollect({ idleMs, timeoutMs }: { idleMs: number; timeoutMs: number }) {
      const n = probe.subscribers.filter((s) => s.ready).length;
      const expected = (probe.lastSeq - probe.firstSeq + 1) * n;
      const deadline = Date.now() + timeoutMs;
      let seen = probe.delivered;
      let seenAt = Date.now();
      while (probe.delivered < expected && Date.now() < deadline && Date.now() - seenAt < idleMs) {
        await sleep(20);
        if (probe.delivered !== seen) {
          seen = probe.delivered;
          seenAt = Date.now();
        }
      }
      const delivered = probe.delivered;
      const samples = Float64Array.from(probe.latencyUs);
      const missing = Math.max(0, expected - delivered);
      const all = new Float64Array(samples.length + missing);
      all.set(samples);
      all.fill(Number.POSITIVE_INFINITY, samples.length);
      all.sort();
      const lag = probe.lag;
      // Freeze the window: late deliveries are no longer recorded.
      probe.lastSeq = probe.firstSeq - 1;
      return {
        subscribers: n,
        expected,
        delivered,
        missing,
        // JSON has no Infinity: a percentile that falls on a missing event is reported as null.
        p50Ms: finiteOrNull(percentile(all, 50) / 1000),
        p99Ms: finiteOrNull(percentile(all, 99) / 1000),
        p999Ms: finiteOrNull(percentile(all, 99.9) / 1000),
        maxMs: finiteOrNull(all.length === 0 ? Number.NaN : all[all.length - 1]! / 1000),
        subscriberErrors: probe.subscriberErrors,
        publishErrors: probe.publishErrors,
        firstError: probe.firstError,
        closes: probe.closes,
        closeReasons: Object.fromEntries(probe.closeReasons),
        /** This process's own event-loop delay during the window: large values would mean the clients, not the server, added latency. */
        lagP99Ms: Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS),
        lagMaxMs: Math.max(0, lag.max / 1e6 - LAG_RESOLUTION_MS),
      };
    },

    /** Opens the flooding connection and starts flooding; `read: false` never reads its socket. */
    async floodStart({ port, read, timeoutMs }: { port: number; read: boolean; timeoutMs: number }) {
      if (flood !== undefined) throw new Error('a flood is running');
      const handler = new FloodConn(() => flood);
      const ws = new MiniWs(port, '/trpc', handler, NO_SINK);
      flood = {
        ws,
        read,
        running: true,
        openedUs: 0,
        sent: 0,
        bytes: 0,
        accepted: 0,
        rejected: 0,
        otherErrors: 0,
        firstError: undefined,
        closedUs: undefined,
        closeReason: undefined,
      };
      const deadline = Date.now() + timeoutMs;
      while (flood.openedUs === 0) {
        if (flood.closedUs !== undefined) throw new Error(`flooder could not connect: ${flood.closeReason}`);
        if (Date.now() > deadline) throw new Error('flooder did not connect');
        await sleep(5);
      }
      return floodStats(flood);
    },

    floodStats() {
      if (flood === undefined) throw new Error('no flood');
      return floodStats(flood);
    },

    /** Stops flooding and closes the connection (no closing handshake); returns the final counts. */
    floodStop() {
      const s = flood;
      if (s === undefined) throw new Error('no flood');
      flood = undefined;
      s.running = false;
      const stats = floodStats(s);
      s.ws.destroy();
      return stats;
    },

    cpu: () => ({ cpuUs: cpuUs(), nowUs: nowUs() }),

    exit() {
      probe.closing = true;
      for (const sub of probe.subscribers) sub.ws.destroy();
      probe.publisher?.ws.destroy();
      flood?.ws.destroy();
      setImmediate(() => process.exit(0));
    },
  },
  { name: 'fairness-client', pid: process.pid },
);

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
