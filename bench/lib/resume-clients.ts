/**
 * Resuming subscribers for the load generator (bench/durability.ts,
 * reconnect-storm): lightweight {@link MiniWs} clients that speak the tRPC
 * v11 WebSocket protocol as the stock `wsLink` does after a reconnect. Each
 * one reads every frame, keeps the tracked id of the last event it got,
 * and, when its socket closes, reconnects (to the group's failover port,
 * "the load balancer") and resubscribes with
 * `{"id":1,"method":"subscription","params":{"path":"news.events","input":{"lastEventId":…}}}`:
 * first attempt at once (plus an optional random jitter), then wsLink's
 * default backoff (2 s, 4 s, … up to 30 s) after failed attempts.
 *
 * Every event's `seq` (one publisher, numbered 1, 2, …) is checked against
 * the previous one: a jump counts lost events, a repeat a duplicate. After
 * a reconnect each client records when it saw the close, `started`, its
 * first event (the first replayed one, normally), and its first *live*
 * event (published after its `started`), on the shared monotonic clock.
 */
import { nowUs, sleep } from './clock.js';
import { MiniWs, type FrameSink, type MiniWsHandler } from './mini-ws.js';
import { TOPIC } from './payload.js';

const ID_MARK = Buffer.from('"type":"data","id":"');
const SEQ_MARK = Buffer.from('"seq":');
const T_MARK = Buffer.from('"t":');
const GAP_MARK = Buffer.from('"kind":"gap"');
const ERROR_MARK = Buffer.from('"error"');
const STARTED_MARK = Buffer.from('"started"');
const QUOTE = 0x22;

function numberAfter(payload: Buffer, mark: Buffer): number {
  const at = payload.indexOf(mark);
  if (at === -1) return Number.NaN;
  return Number.parseFloat(payload.toString('latin1', at + mark.length, at + mark.length + 24));
}

function trackedId(payload: Buffer): string | undefined {
  const at = payload.indexOf(ID_MARK);
  if (at === -1) return undefined;
  const from = at + ID_MARK.length;
  const to = payload.indexOf(QUOTE, from);
  return to === -1 ? undefined : payload.toString('latin1', from, to);
}

/** wsLink's default `retryDelayMs`: 0 for the first attempt, then 2 s, 4 s, … capped at 30 s. */
function wsLinkBackoff(attempt: number): number {
  return attempt === 0 ? 0 : Math.min(1000 * 2 ** attempt, 30_000);
}

/** One resuming subscriber. */
class ResumeConn implements MiniWsHandler {
  ws: MiniWs;
  subscribed = false;
  lastId: string | undefined;
  lastSeq = 0;
  events = 0;
  eventsAtStart = 0;
  /** Failed attempts since the last `started` (wsLink's attempt index). */
  attempt = 0;
  reconnects = 0;
  // Shared-clock µs since the last reset (0 = not yet).
  closedAt = 0;
  startedAt = 0;
  firstEventAt = 0;
  /** The first event after a reconnect followed the last one before it (seq + 1). */
  firstContiguous = false;
  liveAt = 0;
  #ready: ((error?: string) => void) | undefined;
  readonly whenReady: Promise<void>;

  constructor(
    readonly group: ResumeGroup,
    port: number,
  ) {
    this.whenReady = new Promise((resolve, reject) => {
      this.#ready = (error) => (error === undefined ? resolve() : reject(new Error(error)));
    });
    this.ws = new MiniWs(port, '/trpc', this, group);
  }

  open(ws: MiniWs): void {
    const input = this.lastId === undefined ? '{}' : `{"lastEventId":"${this.lastId}"}`;
    ws.sendText(`{"id":1,"method":"subscription","params":{"path":"${TOPIC}.events","input":${input}}}`);
  }

  text(ws: MiniWs, payload: Buffer, recvUs: number): void {
    const group = this.group;
    if (payload.length === 4 && payload.toString('latin1') === 'PING') {
      ws.sendText('PONG');
      return;
    }
    if (!this.subscribed) {
      if (payload.includes(STARTED_MARK)) {
        this.subscribed = true;
        this.attempt = 0;
        if (this.closedAt !== 0) this.startedAt = recvUs;
        this.eventsAtStart = this.events;
        this.#ready?.();
        this.#ready = undefined;
      } else {
        group.errors++;
        group.firstError ??= payload.toString('utf8', 0, 300);
      }
      return;
    }
    if (payload.includes(ERROR_MARK) && !payload.includes(SEQ_MARK)) {
      group.errors++;
      group.firstError ??= payload.toString('utf8', 0, 300);
      return;
    }
    const id = trackedId(payload);
    const previousId = this.lastId;
    if (id !== undefined) this.lastId = id;
    if (payload.includes(GAP_MARK)) {
      group.gaps++;
      return;
    }
    const seq = numberAfter(payload, SEQ_MARK);
    if (!Number.isFinite(seq)) return;
    group.counted++;
    group.lastUs = recvUs;
    this.events++;
    if (this.closedAt !== 0 && this.firstEventAt === 0) {
      this.firstEventAt = recvUs;
      this.firstContiguous = seq === this.lastSeq + 1;
    }
    if (this.startedAt !== 0 && this.liveAt === 0 && numberAfter(payload, T_MARK) >= this.startedAt) this.liveAt = recvUs;
    if (this.lastSeq !== 0) {
      if (seq <= this.lastSeq) {
        group.duplicates++;
        if (group.duplicateSamples.length < 10) {
          group.duplicateSamples.push(
            `seq ${seq} after ${this.lastSeq}, ${
              this.startedAt === 0
                ? 'before the reconnect'
                : `received ${((recvUs - this.startedAt) / 1000).toFixed(1)} ms after started (first event ${((this.firstEventAt - this.startedAt) / 1000).toFixed(1)} ms, published ${((numberAfter(payload, T_MARK) - this.startedAt) / 1000).toFixed(1)} ms after started, ${this.events - this.eventsAtStart} events since)`
            }, id ${id} after id ${previousId}`,
          );
        }
      }
      else if (seq > this.lastSeq + 1) group.lost += seq - this.lastSeq - 1;
    }
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  close(_ws: MiniWs, reason: string): void {
    const group = this.group;
    const wasSubscribed = this.subscribed;
    this.subscribed = false;
    if (group.closing) return;
    if (this.#ready !== undefined && group.failoverPort === undefined) {
      // The first connection failed: no reconnect yet.
      this.#ready(reason);
      this.#ready = undefined;
      return;
    }
    if (wasSubscribed) {
      if (this.closedAt === 0) this.closedAt = nowUs();
      group.closes.set(reason, (group.closes.get(reason) ?? 0) + 1);
    } else {
      group.failedAttempts++;
      this.attempt++;
    }
    const jitter = this.attempt === 0 && group.jitterMs > 0 ? Math.random() * group.jitterMs : 0;
    const delay = wsLinkBackoff(this.attempt) + jitter;
    const reconnect = () => {
      if (group.closing) return;
      this.reconnects++;
      this.ws = new MiniWs(group.failoverPort ?? group.port, '/trpc', this, group);
    };
    if (delay === 0) reconnect();
    else setTimeout(reconnect, delay);
  }
}

/** The resuming subscribers of one name. */
class ResumeGroup implements FrameSink {
  readonly conns: ResumeConn[] = [];
  counted = 0;
  lastUs = 0;
  errors = 0;
  firstError: string | undefined;
  gaps = 0;
  lost = 0;
  duplicates = 0;
  /** The first few duplicates, described (what the subscriber got, after what, when). */
  duplicateSamples: string[] = [];
  failedAttempts = 0;
  closes = new Map<string, number>();
  failoverPort: number | undefined;
  jitterMs = 0;
  closing = false;

  constructor(readonly port: number) {}

  progress(): void {}

  destroy(): void {
    this.closing = true;
    for (const conn of this.conns) conn.ws.destroy();
  }
}

function percentiles(valuesUs: number[]) {
  const sorted = Float64Array.from(valuesUs).sort();
  const at = (p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! / 1000);
  return { n: sorted.length, p50Ms: at(50), p99Ms: at(99), maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]! / 1000 };
}

const groups = new Map<string, ResumeGroup>();

function group(name: string): ResumeGroup {
  const found = groups.get(name);
  if (found === undefined) throw new Error(`no resume group ${name}`);
  return found;
}

/** The load generator's commands for resuming subscribers (bench/loadgen.ts spreads them in). */
export function resumeCommands() {
  return {
    /** Opens `n` resuming subscribers to `port`, `concurrency` handshakes at a time; resolves when all are subscribed. */
    async resumeConnect({ name, port, n, concurrency, timeoutMs }: { name: string; port: number; n: number; concurrency: number; timeoutMs: number }) {
      let g = groups.get(name);
      if (g === undefined) {
        g = new ResumeGroup(port);
        groups.set(name, g);
      }
      const target = g;
      const startUs = nowUs();
      let next = 0;
      let failed = 0;
      let firstError: string | undefined;
      const worker = async () => {
        while (next < n) {
          next++;
          const conn = new ResumeConn(target, port);
          target.conns.push(conn);
          const timer = sleep(timeoutMs).then(() => Promise.reject(new Error('subscribe timed out')));
          try {
            await Promise.race([conn.whenReady, timer]);
          } catch (error) {
            failed++;
            firstError ??= String(error);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
      return { opened: n - failed, failed, firstError, ms: (nowUs() - startUs) / 1000 };
    },

    /** From now on, closed subscribers reconnect to `port` (first attempt after a random 0–`jitterMs` ms). */
    resumeFailover({ name, port, jitterMs }: { name: string; port: number; jitterMs: number }) {
      const g = group(name);
      g.failoverPort = port;
      g.jitterMs = jitterMs;
      for (const conn of g.conns) {
        conn.closedAt = 0;
        conn.startedAt = 0;
        conn.firstEventAt = 0;
        conn.firstContiguous = false;
        conn.liveAt = 0;
      }
      return { ok: true };
    },

    /**
     * Waits until every subscriber has `until`: `event` (received at least
     * one event), `resumed` (its first event after a reconnect) or `live`
     * (a live event after a reconnect). Resolves with how many have it.
     */
    async resumeWait({ name, until, timeoutMs }: { name: string; until: 'event' | 'resumed' | 'live'; timeoutMs: number }) {
      const g = group(name);
      const has = (c: ResumeConn) => (until === 'event' ? c.events > 0 : until === 'resumed' ? c.firstEventAt !== 0 : c.liveAt !== 0);
      const deadline = Date.now() + timeoutMs;
      let count = 0;
      for (;;) {
        count = 0;
        for (const conn of g.conns) if (has(conn)) count++;
        if (count === g.conns.length || Date.now() > deadline) break;
        await sleep(20);
      }
      return { count, of: g.conns.length };
    },

    /**
     * Times of the last reconnect, relative to `t0Us` (shared clock), as
     * percentiles over the subscribers: close seen, `started`, first event,
     * first live event.
     */
    resumeReport({ name, t0Us }: { name: string; t0Us: number }) {
      const g = group(name);
      const of = (field: 'closedAt' | 'startedAt' | 'firstEventAt' | 'liveAt') => percentiles(g.conns.filter((c) => c[field] !== 0).map((c) => c[field] - t0Us));
      return {
        subscribers: g.conns.length,
        closed: of('closedAt'),
        started: of('startedAt'),
        resumed: of('firstEventAt'),
        live: of('liveAt'),
        firstContiguous: g.conns.filter((c) => c.firstEventAt !== 0 && c.firstContiguous).length,
        reconnects: g.conns.reduce((sum, c) => sum + c.reconnects, 0),
        failedAttempts: g.failedAttempts,
        closes: Object.fromEntries(g.closes),
      };
    },

    /**
     * Waits until every subscriber has the event numbered `lastSeq` (or
     * `timeoutMs`), then counts: lost events (jumps, and what is missing at
     * the end), duplicates, gap signals, error frames.
     */
    async resumeVerify({ name, lastSeq, timeoutMs }: { name: string; lastSeq: number; timeoutMs: number }) {
      const g = group(name);
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && g.conns.some((c) => c.lastSeq < lastSeq)) await sleep(20);
      const behind = g.conns.filter((c) => c.lastSeq < lastSeq);
      const missingAtEnd = behind.reduce((sum, c) => sum + (lastSeq - c.lastSeq), 0);
      return {
        subscribers: g.conns.length,
        behind: behind.length,
        lost: g.lost + missingAtEnd,
        duplicates: g.duplicates,
        duplicateSamples: g.duplicateSamples,
        gaps: g.gaps,
        errors: g.errors,
        firstError: g.firstError,
        events: g.counted,
      };
    },

    /** Closes every subscriber of the group. */
    async resumeDisconnect({ name }: { name: string }) {
      const g = groups.get(name);
      if (g === undefined) return { closed: 0 };
      g.destroy();
      groups.delete(name);
      await sleep(50);
      return { closed: g.conns.length };
    },
  };
}
