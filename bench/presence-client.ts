/**
 * The clients of bench/presence-churn.ts, in a process of their own (core
 * 1): presence watchers and join/leave churn, all {@link MiniWs} sockets
 * speaking the tRPC v11 protocol.
 *
 * - *watchers*: one connection per instance subscribed to
 *   `chat.presence({ key })`; every update is read and each `join` /
 *   `leave` stamped with the time it arrived.
 * - *churn*: `joinsPerSec` joins per second, alternating between the
 *   instances; a join is a new connection (`/trpc?name=j<n>`: the member's
 *   info) subscribing to `chat.events({ key })`, held `holdMs` after its
 *   `started`, then closed (the leave). A join's cost is the time from its
 *   subscription request to the moment the *other* instance's watcher sees
 *   it (`cross`; `local`: the watcher on its own instance); a leave's, from
 *   the socket's close to the other watcher's `leave`. With `topic: 'plain'`
 *   the same churn subscribes to a topic without presence (the control:
 *   what the connections and subscriptions cost without presence).
 *
 * Controlled over IPC; see the command table at the bottom.
 */
import { nowUs, sleep } from './lib/clock.js';
import { serve } from './lib/ipc.js';
import { MiniWs, type FrameSink, type MiniWsHandler } from './lib/mini-ws.js';

/** Every frame is read (`capture` stays on). */
const NO_SINK: FrameSink = { counted: 0, lastUs: 0, progress() {} };

function isPing(payload: Buffer): boolean {
  return payload.length === 4 && payload.toString('latin1') === 'PING';
}

/** Percentiles of samples in µs, reported in ms (null when there are none). */
function stats(samplesUs: number[]) {
  const sorted = Float64Array.from(samplesUs).sort();
  const at = (p: number) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! / 1000);
  return { n: sorted.length, p50Ms: at(50), p99Ms: at(99), maxMs: sorted.length === 0 ? null : sorted[sorted.length - 1]! / 1000 };
}

/** Latency statistics of one kind of sample. */
export type ChurnStats = ReturnType<typeof stats>;

/** One join of the churn. */
interface Join {
  name: string;
  /** Index of the instance it joined. */
  instance: number;
  /** Whether watchers should see it (a topic with presence). */
  watched: boolean;
  sentUs: number;
  startedUs?: number;
  closedUs?: number;
  /** When each watcher (by instance) saw the join, and the leave. */
  seenUs: (number | undefined)[];
  leftUs: (number | undefined)[];
}

const joins = new Map<string, Join>();
let errors = 0;
let firstError: string | undefined;
let closing = false;

function fail(message: string): void {
  errors++;
  firstError ??= message;
}

class Watcher implements MiniWsHandler {
  readonly ws: MiniWs;
  /** Resolves at the first `members` update. */
  readonly whenListed: Promise<void>;
  #listed!: () => void;
  updates = 0;

  constructor(
    readonly instance: number,
    port: number,
    readonly key: string,
  ) {
    this.whenListed = new Promise((resolve) => (this.#listed = resolve));
    this.ws = new MiniWs(port, `/trpc?name=watcher-${instance}`, this, NO_SINK);
  }

  open(ws: MiniWs): void {
    ws.sendText(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'chat.presence', input: { key: this.key } } }));
  }

  text(ws: MiniWs, payload: Buffer, recvUs: number): void {
    if (isPing(payload)) {
      ws.sendText('PONG');
      return;
    }
    const message = JSON.parse(payload.toString('utf8')) as {
      error?: { message?: string };
      result?: { type?: string; data?: { kind?: string; member?: { info?: { name?: string } } } };
    };
    if (message.error !== undefined) {
      fail(`watcher ${this.instance}: ${message.error.message ?? JSON.stringify(message.error)}`);
      return;
    }
    const data = message.result?.type === 'data' ? message.result.data : undefined;
    if (data === undefined) return;
    this.updates++;
    if (data.kind === 'members') this.#listed();
    const name = data.member?.info?.name;
    const join = name === undefined ? undefined : joins.get(name);
    if (join === undefined) return;
    if (data.kind === 'join') join.seenUs[this.instance] ??= recvUs;
    else if (data.kind === 'leave') join.leftUs[this.instance] ??= recvUs;
  }

  close(_ws: MiniWs, reason: string): void {
    if (!closing) fail(`watcher ${this.instance} closed: ${reason}`);
  }
}

class Member implements MiniWsHandler {
  readonly ws: MiniWs;

  constructor(
    readonly join: Join,
    port: number,
    readonly topic: string,
    readonly key: string,
    readonly holdMs: number,
  ) {
    this.ws = new MiniWs(port, `/trpc?name=${join.name}`, this, NO_SINK);
  }

  open(ws: MiniWs): void {
    this.join.sentUs = nowUs();
    ws.sendText(JSON.stringify({ id: 1, method: 'subscription', params: { path: `${this.topic}.events`, input: { key: this.key } } }));
  }

  text(ws: MiniWs, payload: Buffer, recvUs: number): void {
    if (isPing(payload)) {
      ws.sendText('PONG');
      return;
    }
    if (payload.includes('"error"')) {
      fail(`${this.join.name}: ${payload.toString('utf8', 0, 200)}`);
      return;
    }
    if (this.join.startedUs === undefined && payload.includes('"started"')) {
      this.join.startedUs = recvUs;
      setTimeout(() => {
        this.join.closedUs = nowUs();
        this.ws.destroy();
      }, this.holdMs);
    }
  }

  close(_ws: MiniWs, reason: string): void {
    if (this.join.closedUs === undefined && !closing) fail(`${this.join.name} closed early: ${reason}`);
  }
}

let watchers: Watcher[] = [];
let churn: { stop: () => void; done: Promise<void> } | undefined;
let nextJoin = 0;

serve(
  {
    /** Opens a watcher on each port (instance) and resolves once each has its member list. */
    async watch({ ports, key, timeoutMs }: { ports: number[]; key: string; timeoutMs: number }) {
      watchers = ports.map((port, i) => new Watcher(i, port, key));
      await Promise.race([
        Promise.all(watchers.map((w) => w.whenListed)),
        sleep(timeoutMs).then(() => Promise.reject(new Error(`presence watchers got no member list within ${timeoutMs} ms (${firstError ?? 'no error'})`))),
      ]);
      return { watchers: watchers.length };
    },

    /**
     * Starts the churn in the background: `joinsPerSec` joins per second to
     * `topic` (`chat`, with presence, or `plain`, without), round robin over
     * `ports`, each held `holdMs`.
     */
    churnStart({ ports, topic = 'chat', key, joinsPerSec, holdMs }: { ports: number[]; topic?: string; key: string; joinsPerSec: number; holdMs: number }) {
      if (churn !== undefined) throw new Error('churn is running');
      joins.clear();
      errors = 0;
      firstError = undefined;
      const interval = 1e6 / joinsPerSec;
      let next = nowUs();
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      let finish!: () => void;
      const done = new Promise<void>((resolve) => (finish = resolve));
      const tick = () => {
        if (stopped) return;
        let now = nowUs();
        while (next <= now) {
          const n = nextJoin++;
          const instance = n % ports.length;
          const join: Join = { name: `j${n}`, instance, watched: topic === 'chat', sentUs: Number.NaN, seenUs: [], leftUs: [] };
          joins.set(join.name, join);
          new Member(join, ports[instance]!, topic, key, holdMs);
          next += interval;
        }
        now = nowUs();
        timer = setTimeout(tick, Math.max(0, (next - now) / 1000));
      };
      churn = {
        stop: () => {
          stopped = true;
          clearTimeout(timer);
          finish();
        },
        done,
      };
      tick();
      return { startedUs: nowUs() };
    },

    /**
     * Stops starting joins, waits until every join was held and closed and
     * its leave seen (or `settleMs` passed), and reports the latencies of
     * the joins started since churnStart (with `fromUs`/`toUs`, of those
     * whose request was sent in that window of the shared clock).
     */
    async churnStop({ settleMs, fromUs = 0, toUs = Number.POSITIVE_INFINITY }: { settleMs: number; fromUs?: number; toUs?: number }) {
      const running = churn;
      if (running === undefined) throw new Error('no churn');
      churn = undefined;
      running.stop();
      await running.done;
      const stopUs = nowUs();
      const settled = () =>
        [...joins.values()].every((j) => j.closedUs !== undefined && (!j.watched || watchers.every((w) => j.leftUs[w.instance] !== undefined)));
      const deadline = Date.now() + settleMs;
      while (!settled() && Date.now() < deadline) await sleep(20);
      const cross: number[] = [];
      const local: number[] = [];
      const started: number[] = [];
      const leaves: number[] = [];
      let missingJoins = 0;
      let missingLeaves = 0;
      let unstarted = 0;
      let counted = 0;
      for (const j of joins.values()) {
        // A join whose connection never opened has no send time: it counts in every window.
        if (j.sentUs < fromUs || j.sentUs > toUs) continue;
        counted++;
        if (j.startedUs === undefined) {
          unstarted++;
          continue;
        }
        started.push(j.startedUs - j.sentUs);
        if (!j.watched) continue;
        for (const w of watchers) {
          const seen = j.seenUs[w.instance];
          if (seen === undefined) missingJoins++;
          else (w.instance === j.instance ? local : cross).push(seen - j.sentUs);
          const left = j.leftUs[w.instance];
          if (left === undefined || j.closedUs === undefined) missingLeaves++;
          else if (w.instance !== j.instance) leaves.push(left - j.closedUs);
        }
      }
      return {
        joins: counted,
        stopUs,
        unstarted,
        missingJoins,
        missingLeaves,
        errors,
        firstError,
        started: stats(started),
        cross: stats(cross),
        local: stats(local),
        leave: stats(leaves),
        watcherUpdates: watchers.map((w) => w.updates),
      };
    },

    exit() {
      closing = true;
      for (const w of watchers) w.ws.destroy();
      setImmediate(() => process.exit(0));
    },
  },
  { name: 'presence-client', pid: process.pid },
);
