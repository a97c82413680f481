/**
 * The load generator: a separate process (pinned to core 1 by bench/run.ts)
 * holding every client socket, speaking each system's protocol over
 * {@link MiniWs}: tRPC v11 (`subscription` message, `started`, data
 * frames, `PING`/`PONG`), engine.io v4 / socket.io v5 over WebSocket (`0`
 * open, `40` connect, `42` events, `2`/`3` ping), or raw frames. Subscribers
 * count data frames from their headers without parsing them; latency and
 * round-trip phases read payloads for the publish timestamp. Controlled over
 * IPC; see the command table at the bottom.
 */
import { cpuUs, nowUs, sleep } from './lib/clock.js';
import { emit, serve } from './lib/ipc.js';
import { MiniSse, type MiniSseHandler } from './lib/mini-sse.js';
import { MiniWs, type FrameSink, type MiniWsHandler } from './lib/mini-ws.js';
import { BODY, ROOM_TOPIC, roomsOf, TOPIC } from './lib/payload.js';
import { profilerCommands } from './lib/profiler.js';
import { resumeCommands } from './lib/resume-clients.js';
import type { WireProtocol } from './lib/systems.js';

type Role = 'sub' | 'pub';

/** One client connection of a group. */
class Conn implements MiniWsHandler, MiniSseHandler {
  /** The WebSocket, or the event stream of an `sse` subscriber (sse-fanout-1k). */
  readonly ws: MiniWs | MiniSse;
  ready = false;
  /** tRPC: `started` acknowledgements still awaited (one per room). */
  #starts: number;
  closedReason: string | undefined;
  #settle: ((error?: string) => void) | undefined;
  /** Resolves once subscribed (or connected, for publishers). */
  readonly whenReady: Promise<void>;

  constructor(
    readonly group: Group,
    readonly role: Role,
    port: number,
    /** The rooms this subscriber joins (many-channels); the bench topic when undefined. */
    readonly rooms?: string[],
  ) {
    this.#starts = rooms?.length ?? 1;
    this.whenReady = new Promise((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(new Error(error)));
    });
    const path = pathFor(group.protocol, role, rooms);
    this.ws = group.protocol === 'sse' ? new MiniSse(port, path, this, group) : new MiniWs(port, path, this, group);
  }

  markReady(): void {
    if (this.ready) return;
    this.ready = true;
    this.ws.capture = this.role === 'pub' || this.group.captureAll;
    this.group.onReady(this);
    this.#settle?.();
    this.#settle = undefined;
  }

  fail(reason: string): void {
    this.#settle?.(reason);
    this.#settle = undefined;
  }

  open(ws: MiniWs | MiniSse): void {
    const { protocol } = this.group;
    // An SSE subscriber is subscribed once its stream is open (the orchestrator waits for the server's count).
    if (protocol === 'raw' || protocol === 'sse') this.markReady();
    else if (protocol === 'trpc') {
      if (this.role === 'pub') this.markReady();
      else if (this.rooms === undefined) ws.sendText(`{"id":1,"method":"subscription","params":{"path":"${TOPIC}.events","input":{}}}`);
      else {
        this.rooms.forEach((room, i) => {
          ws.sendText(`{"id":${i + 1},"method":"subscription","params":{"path":"${ROOM_TOPIC}.events","input":{"key":"${room}"}}}`);
        });
      }
    }
    // socket.io waits for the engine.io open packet.
  }

  text(ws: MiniWs | MiniSse, payload: Buffer, recvUs: number): void {
    const group = this.group;
    switch (group.protocol) {
      case 'sse':
        group.delivered(this, payload, recvUs);
        return;
      case 'raw':
        if (payload.length >= 16) group.delivered(this, payload, recvUs);
        return;
      case 'trpc': {
        if (payload.length === 4 && payload.toString('latin1') === 'PING') {
          ws.sendText('PONG');
          return;
        }
        if (this.role === 'pub') {
          if (payload.includes('"error"')) group.errors++;
          group.onPublished(payload);
          return;
        }
        if (!this.ready) {
          if (!payload.includes('"started"')) this.fail(`unexpected frame before started: ${payload.toString('utf8', 0, 300)}`);
          else if (--this.#starts === 0) this.markReady();
          return;
        }
        if (payload.includes('"error"')) {
          group.errors++;
          return;
        }
        group.delivered(this, payload, recvUs);
        return;
      }
      case 'socket.io': {
        const type = payload[0];
        if (type === 0x32 /* 2: ping */ && payload.length === 1) {
          ws.sendText('3');
        } else if (type === 0x30 /* 0: engine.io open */) {
          ws.sendText(this.role === 'pub' ? '40{"role":"pub"}' : this.rooms === undefined ? '40' : `40${JSON.stringify({ rooms: this.rooms })}`);
        } else if (type === 0x34 /* 4: message */) {
          const kind = payload[1];
          if (kind === 0x30 /* 40 connect */) this.markReady();
          else if (kind === 0x32 /* 42 event */ && this.role === 'sub') group.delivered(this, payload, recvUs);
          else if (kind === 0x34 /* 44 connect_error */) this.fail(`socket.io connect_error ${payload.toString()}`);
        }
        return;
      }
    }
  }

  close(_ws: MiniWs | MiniSse, reason: string): void {
    this.closedReason = reason;
    this.fail(reason);
    this.group.onClose(this, reason);
  }
}

function pathFor(protocol: WireProtocol, role: Role, rooms: string[] | undefined): string {
  switch (protocol) {
    case 'raw':
      return role === 'pub' ? '/pub' : rooms === undefined ? '/sub' : `/sub?rooms=${rooms.join(',')}`;
    case 'trpc':
      return '/trpc';
    case 'socket.io':
      return '/socket.io/?EIO=4&transport=websocket';
    case 'sse':
      // What httpSubscriptionLink opens for `news.events.subscribe({})`.
      return `/trpc/${TOPIC}.events?input=${encodeURIComponent('{}')}`;
  }
}

const T_MARK = Buffer.from('"t":');
const SEQ_MARK = Buffer.from('"seq":');

function numberAfter(payload: Buffer, mark: Buffer): number {
  const at = payload.indexOf(mark);
  if (at === -1) return Number.NaN;
  return Number.parseFloat(payload.toString('latin1', at + mark.length, at + mark.length + 24));
}

/** Subscribers of one system (plus its publisher), counted together. */
class Group implements FrameSink {
  readonly conns: Conn[] = [];
  /** Subscribers in the order they became ready (the last one is the tracker). */
  readonly readyConns: Conn[] = [];
  publisher: Conn | undefined;
  counted = 0;
  lastUs = 0;
  errors = 0;
  unexpectedCloses = 0;
  closeReasons = new Map<string, number>();
  captureAll = false;
  latency: number[] | undefined;
  tracker: Conn | undefined;
  onSeq: ((seq: number, recvUs: number) => void) | undefined;
  #waiter: { target: number; resolve: () => void } | undefined;
  #closing = false;

  constructor(
    readonly name: string,
    readonly protocol: WireProtocol,
    readonly port: number,
  ) {}

  progress(): void {
    const waiter = this.#waiter;
    if (waiter !== undefined && this.counted >= waiter.target) {
      this.#waiter = undefined;
      waiter.resolve();
    }
  }

  /** A data frame that was read. */
  delivered(conn: Conn, payload: Buffer, recvUs: number): void {
    this.counted++;
    this.lastUs = recvUs;
    if (this.latency !== undefined) this.latency.push(recvUs - numberAfter(payload, T_MARK));
    if (conn === this.tracker && this.onSeq !== undefined) this.onSeq(numberAfter(payload, SEQ_MARK), recvUs);
    this.progress();
  }

  onPublished(_payload: Buffer): void {}

  onReady(conn: Conn): void {
    if (conn.role === 'sub') this.readyConns.push(conn);
  }

  onClose(conn: Conn, reason: string): void {
    if (this.#closing) return;
    this.unexpectedCloses++;
    this.closeReasons.set(reason, (this.closeReasons.get(reason) ?? 0) + 1);
    void conn;
  }

  /** Resolves when {@link counted} reaches `target`, or after `idleMs` without progress. */
  async waitFor(target: number, idleMs: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = this.counted;
    let seenAt = Date.now();
    while (this.counted < target) {
      const reached = new Promise<void>((resolve) => {
        this.#waiter = { target, resolve };
      });
      await Promise.race([reached, sleep(50)]);
      this.#waiter = undefined;
      if (this.counted !== seen) {
        seen = this.counted;
        seenAt = Date.now();
      }
      if (Date.now() - seenAt > idleMs || Date.now() > deadline) return;
    }
  }

  /**
   * Reads the payload of every `every`-th subscriber (a uniform sample of
   * fan-out positions), or of none; the others keep counting unread.
   */
  setCapture(on: boolean, every = 1): void {
    this.captureAll = on && every === 1;
    this.conns.forEach((conn, i) => {
      if (conn.ready) conn.ws.capture = (on && i % every === 0) || conn === this.tracker;
    });
  }

  destroy(): void {
    this.#closing = true;
    for (const conn of this.conns) conn.ws.destroy();
    this.publisher?.ws.destroy();
  }
}

const groups = new Map<string, Group>();

function group(name: string): Group {
  const found = groups.get(name);
  if (found === undefined) throw new Error(`no group ${name}`);
  return found;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function stats(samplesUs: number[]) {
  const sorted = Float64Array.from(samplesUs.filter((x) => Number.isFinite(x))).sort();
  return {
    samples: sorted.length,
    p50Ms: percentile(sorted, 50) / 1000,
    p99Ms: percentile(sorted, 99) / 1000,
    p999Ms: percentile(sorted, 99.9) / 1000,
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]! / 1000,
  };
}

function publishText(protocol: WireProtocol, payloadJson: string, requestId: number): string {
  switch (protocol) {
    case 'raw':
      return `{"payload":${payloadJson}}`;
    case 'trpc':
      return `{"id":${requestId},"method":"mutation","params":{"path":"${TOPIC}.publish","input":{"data":${payloadJson}}}}`;
    case 'socket.io':
      return `42["publish",${payloadJson}]`;
    case 'sse':
      throw new Error('SSE subscribers have no publisher connection');
  }
}

let countStartUs = 0;
let countStartCpu = 0;

serve(
  {
    /**
     * Opens `n` subscribers, `concurrency` handshakes at a time; resolves
     * when all are subscribed. With `rooms`, subscriber i joins
     * `roomsOf(i, rooms.count, rooms.perConn)` (many-channels) instead of the bench topic.
     */
    async connect({
      name,
      protocol,
      port,
      n,
      concurrency,
      timeoutMs,
      rooms,
    }: {
      name: string;
      protocol: WireProtocol;
      port: number;
      n: number;
      concurrency: number;
      timeoutMs: number;
      rooms?: { count: number; perConn: number };
    }) {
      let g = groups.get(name);
      if (g === undefined) {
        g = new Group(name, protocol, port);
        groups.set(name, g);
      }
      const target = g;
      const startUs = nowUs();
      const cpu0 = cpuUs();
      let next = 0;
      let failed = 0;
      let firstError: string | undefined;
      const worker = async () => {
        while (next < n) {
          const index = next++;
          const conn = new Conn(target, 'sub', port, rooms === undefined ? undefined : roomsOf(index, rooms.count, rooms.perConn));
          target.conns.push(conn);
          const timer = sleep(timeoutMs).then(() => conn.fail('subscribe timed out'));
          try {
            await Promise.race([conn.whenReady, timer]);
          } catch (error) {
            failed++;
            firstError ??= String(error);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
      const ms = (nowUs() - startUs) / 1000;
      return { opened: n - failed, failed, firstError, ms, cpuUs: cpuUs() - cpu0, total: target.readyConns.length };
    },

    /** Opens the group's publisher connection (client-to-client round trip). */
    async publisher({ name }: { name: string }) {
      const g = group(name);
      const conn = new Conn(g, 'pub', g.port);
      g.publisher = conn;
      await Promise.race([conn.whenReady, sleep(10_000).then(() => Promise.reject(new Error('publisher did not connect')))]);
      return { ok: true };
    },

    /** Closes every connection of the group. */
    async disconnect({ name }: { name: string }) {
      const g = groups.get(name);
      if (g === undefined) return { closed: 0 };
      g.destroy();
      groups.delete(name);
      await sleep(50);
      return { closed: g.conns.length };
    },

    status({ name }: { name: string }) {
      const g = group(name);
      return {
        conns: g.conns.length,
        ready: g.readyConns.length,
        counted: g.counted,
        errors: g.errors,
        unexpectedCloses: g.unexpectedCloses,
        closeReasons: Object.fromEntries(g.closeReasons),
      };
    },

    countStart({ name }: { name: string }) {
      const g = group(name);
      g.counted = 0;
      g.lastUs = 0;
      g.errors = 0;
      countStartUs = nowUs();
      countStartCpu = cpuUs();
      return { startUs: countStartUs };
    },

    /** Waits until `target` frames were counted since countStart (or no progress for `idleMs`). */
    async countWait({ name, target, idleMs, timeoutMs }: { name: string; target: number; idleMs: number; timeoutMs: number }) {
      const g = group(name);
      await g.waitFor(target, idleMs, timeoutMs);
      const cpuWallUs = nowUs() - countStartUs;
      const cpu = cpuUs() - countStartCpu;
      return {
        frames: g.counted,
        complete: g.counted >= target,
        lastUs: g.lastUs,
        startUs: countStartUs,
        cpuUs: cpu,
        cpuWallUs,
        errors: g.errors,
        unexpectedCloses: g.unexpectedCloses,
        closeReasons: Object.fromEntries(g.closeReasons),
      };
    },

    /**
     * Records publish-to-receive latency from now on, reading the payloads
     * of one subscriber in `every` (reading all of them would make the load
     * generator's own queue part of the latency).
     */
    latencyStart({ name, every }: { name: string; every: number }) {
      const g = group(name);
      g.latency = [];
      g.setCapture(true, every);
      return { ok: true };
    },

    latencyStop({ name }: { name: string }) {
      const g = group(name);
      const samples = g.latency ?? [];
      g.latency = undefined;
      g.setCapture(false);
      return stats(samples);
    },

    /** Reports (as `seq` events) every event the group's last subscriber receives: acknowledgements for cross-instance flow control. */
    track({ name, on }: { name: string; on: boolean }) {
      const g = group(name);
      const tracker = g.readyConns[g.readyConns.length - 1];
      if (tracker === undefined) throw new Error('no subscriber to track');
      if (on) {
        g.tracker = tracker;
        tracker.ws.capture = true;
        g.onSeq = (seq) => emit({ event: 'seq', name, seq });
      } else {
        g.onSeq = undefined;
        g.tracker = undefined;
        tracker.ws.capture = g.captureAll;
      }
      return { ok: true };
    },

    /**
     * Client-to-client round trip, closed loop: the publisher sends an
     * event, the last subscriber to become ready receives it, the next one
     * is sent. Resolves after `durationMs` with the round-trip percentiles.
     */
    roundtrip({ name, durationMs, stallMs }: { name: string; durationMs: number; stallMs: number }) {
      const g = group(name);
      const publisher = g.publisher;
      const tracker = g.readyConns[g.readyConns.length - 1];
      if (publisher === undefined || tracker === undefined) throw new Error('roundtrip needs a publisher and subscribers');
      g.tracker = tracker;
      tracker.ws.capture = true;
      const rtts: number[] = [];
      return new Promise((resolve) => {
        const startUs = nowUs();
        const endAt = startUs + durationMs * 1000;
        let seq = 0;
        let sentUs = 0;
        let lastProgress = Date.now();
        const finish = (stalled: boolean) => {
          clearInterval(watchdog);
          g.onSeq = undefined;
          g.tracker = undefined;
          tracker.ws.capture = g.captureAll;
          resolve({ rounds: rtts.length, sent: seq, startUs, endUs: nowUs(), stalled, errors: g.errors, ...stats(rtts) });
        };
        const send = () => {
          seq++;
          sentUs = nowUs();
          publisher.ws.sendText(publishText(g.protocol, `{"seq":${seq},"t":${sentUs},"body":"${BODY}"}`, seq + 1));
        };
        g.onSeq = (got, recvUs) => {
          if (got !== seq) return;
          rtts.push(recvUs - sentUs);
          lastProgress = Date.now();
          if (nowUs() < endAt) send();
          else finish(false);
        };
        const watchdog = setInterval(() => {
          if (Date.now() - lastProgress > stallMs) finish(true);
        }, 20);
        send();
      });
    },

    cpu: () => ({ cpuUs: cpuUs() }),

    ...profilerCommands(),

    /** Resuming subscribers (bench/durability.ts, reconnect-storm): resumeConnect, resumeFailover, resumeWait, resumeReport, resumeVerify, resumeDisconnect. */
    ...resumeCommands(),

    exit() {
      for (const g of groups.values()) g.destroy();
      setImmediate(() => process.exit(0));
    },
  },
  { name: 'loadgen', pid: process.pid },
);
