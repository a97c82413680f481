/**
 * The harness every server entry shares: it owns the publish loops and the
 * measurements, so that the four systems differ only in how they connect
 * subscribers and deliver one event. Commands arrive over IPC from
 * bench/run.ts (see {@link serve}).
 */
import { performance } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { cpuUs, nowUs, sleep } from '../lib/clock.js';
import { serve } from '../lib/ipc.js';
import { makePayload, roomName, type BenchPayload } from '../lib/payload.js';
import { profilerCommands } from '../lib/profiler.js';

/** What a server entry implements. */
export interface SystemServer {
  /** HTTP port the WebSocket endpoint listens on (127.0.0.1). */
  readonly port: number;
  /** Subscribers currently registered for the bench topic. */
  subscribers(): number;
  /** Publishes one event to every subscriber, the way an application of this system would. */
  publish(payload: BenchPayload): void;
  /**
   * Publishes one event to the members of room `room` (many-channels:
   * trpc-pubsub's keyed `room` topic, a Socket.IO room, raw-ws's room map).
   * {@link subscribers} counts room memberships too.
   */
  publishRoom?(room: string, payload: BenchPayload): void;
  /** Bytes queued in userland for the most recently connected subscriber (backpressure guard). */
  buffered(): number;
  /** Stops listening. */
  close(): Promise<void>;
  /**
   * Publishes one event and resolves once the system acknowledged it (the
   * engine has it: bench/durability.ts, publish-history). Only trpc-pubsub.
   */
  publishAcked?(payload: BenchPayload): Promise<unknown>;
}

/** Command-line options of a server entry. */
export interface ServerArgs {
  /** `publisher`: instance A of cross-instance (no clients, publishes through the broker). */
  role: 'subscriber' | 'publisher';
  /** Redis URL for cross-instance; single process when undefined. */
  redisUrl: string | undefined;
  /** Prototype variant (trpc-pubsub-proto). */
  variant: string | undefined;
  /** trpc-pubsub only (`--history N`): the bench topic keeps `history: { maxEvents: N }`. */
  history: number | undefined;
  /** trpc-pubsub only (`--postgres URL`): the PostgreSQL engine instead of Redis or memory. */
  postgresUrl: string | undefined;
  /** trpc-pubsub only (`--prefix P`): the engine's channel prefix. */
  prefix: string | undefined;
  /** trpc-pubsub only (`--backlog N`): listen on an `http.Server` of its own with this backlog. */
  backlog: number | undefined;
}

/** Publishing pauses (setTimeout 1 ms instead of setImmediate) while the guard socket holds more than this. */
export const GUARD_BYTES = 1024 * 1024;

export interface SaturateResult {
  events: number;
  startUs: number;
  endUs: number;
  cpuUs: number;
  /** Event-loop utilization: 1 when the loop never waited for I/O (saturated), whatever other processes took. */
  elu: number;
  /** Turns skipped by the backpressure guard. */
  throttled: number;
}

function parseArgs(argv: string[]): ServerArgs {
  const value = (flag: string) => {
    const index = argv.indexOf(flag);
    return index === -1 ? undefined : argv[index + 1];
  };
  return {
    role: value('--role') === 'publisher' ? 'publisher' : 'subscriber',
    redisUrl: value('--redis'),
    variant: value('--variant'),
    history: value('--history') === undefined ? undefined : Number(value('--history')),
    postgresUrl: value('--postgres'),
    prefix: value('--prefix'),
    backlog: value('--backlog') === undefined ? undefined : Number(value('--backlog')),
  };
}

/**
 * The clocks of one measured window of `durationMs`: when it starts and
 * ends, and its figures at `endUs` (CPU time and event-loop utilization
 * since the start).
 */
function measuredWindow(durationMs: number) {
  const startUs = nowUs();
  const cpu0 = cpuUs();
  const elu0 = performance.eventLoopUtilization();
  return {
    startUs,
    endAt: startUs + durationMs * 1000,
    figures: (endUs: number) => ({ startUs, endUs, cpuUs: cpuUs() - cpu0, elu: performance.eventLoopUtilization(elu0).utilization }),
  };
}

/** Runs a server entry: creates it, then serves the bench commands until the orchestrator goes away. */
export async function runServer(name: string, create: (args: ServerArgs) => Promise<SystemServer>): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const server = await create(args);
  let seq = 0;
  let acked = 0;
  let onAck: (() => void) | undefined;
  const gc = (globalThis as { gc?: () => void }).gc;

  const publishOne = () => server.publish(makePayload(++seq));
  let nextRoom = 0;
  /**
   * The publish of {@link saturate} and {@link rate}: the bench topic, or
   * with `rooms` (many-channels) one event to each room in turn, round robin.
   */
  const publisherFor = (rooms: number | undefined): (() => void) => {
    if (rooms === undefined) return publishOne;
    const publishRoom = server.publishRoom?.bind(server);
    if (publishRoom === undefined) throw new Error(`${name} has no rooms`);
    return () => {
      publishRoom(roomName(nextRoom), makePayload(++seq));
      nextRoom = (nextRoom + 1) % rooms;
    };
  };
  /** Background flow of {@link flowStart}: publishes at a fixed rate until {@link flowStop}. */
  let flow: { stop: () => void; done: Promise<{ events: number; firstSeq: number; lastSeq: number; late: number }> } | undefined;

  serve(
    {
      /** CPU time, clock and event-loop utilization counters, for deltas taken by the orchestrator. */
      cpu: () => {
        const elu = performance.eventLoopUtilization();
        return { cpuUs: cpuUs(), nowUs: nowUs(), idleMs: elu.idle, activeMs: elu.active };
      },

      info: () => ({ subscribers: server.subscribers(), seq, ...process.memoryUsage() }),

      async waitSubscribers({ n, timeoutMs }: { n: number; timeoutMs: number }) {
        const deadline = Date.now() + timeoutMs;
        while (server.subscribers() !== n) {
          if (Date.now() > deadline) throw new Error(`${name}: ${server.subscribers()} subscribers, expected ${n}`);
          await sleep(10);
        }
        return { subscribers: n };
      },

      /** One event (`perTurn` events) per loop turn for `durationMs`; with `rooms`, each to the next room. */
      saturate({ durationMs, perTurn, rooms }: { durationMs: number; perTurn: number; rooms?: number }): Promise<SaturateResult> {
        const publishNext = publisherFor(rooms);
        return new Promise((resolve) => {
          const measured = measuredWindow(durationMs);
          let events = 0;
          let throttled = 0;
          const turn = () => {
            const now = nowUs();
            if (now >= measured.endAt) {
              resolve({ events, ...measured.figures(now), throttled });
              return;
            }
            if (server.buffered() > GUARD_BYTES) {
              throttled++;
              setTimeout(turn, 1);
              return;
            }
            for (let i = 0; i < perTurn; i++) publishNext();
            events += perTurn;
            setImmediate(turn);
          };
          turn();
        });
      },

      /** `eventsPerSec` events per second for `durationMs`, each stamped when published; with `rooms`, each to the next room. */
      rate({ eventsPerSec, durationMs, rooms }: { eventsPerSec: number; durationMs: number; rooms?: number }) {
        const publishNext = publisherFor(rooms);
        return new Promise((resolve) => {
          const interval = 1e6 / eventsPerSec;
          const measured = measuredWindow(durationMs);
          let next = measured.startUs;
          let events = 0;
          let late = 0;
          const tick = () => {
            let now = nowUs();
            if (now >= measured.endAt) {
              resolve({ events, ...measured.figures(now), late });
              return;
            }
            if (now - next > interval) late++;
            while (next <= now) {
              publishNext();
              events++;
              next += interval;
            }
            now = nowUs();
            setTimeout(tick, Math.max(0, (next - now) / 1000));
          };
          tick();
        });
      },

      /**
       * Cross-instance publisher: one event per loop turn for `durationMs`,
       * pausing while `window` events are not yet acknowledged by the load
       * generator (relayed by the orchestrator as `ack`), then waits for the
       * last acknowledgement.
       */
      windowed({ durationMs, window, stallMs }: { durationMs: number; window: number; stallMs: number }) {
        return new Promise((resolve) => {
          acked = seq;
          const firstSeq = seq + 1;
          const measured = measuredWindow(durationMs);
          let lastProgress = Date.now();
          let finished = false;
          const finish = (drained: boolean) => {
            if (finished) return;
            finished = true;
            clearInterval(watchdog);
            onAck = undefined;
            resolve({ events: seq - firstSeq + 1, firstSeq, lastSeq: seq, ...measured.figures(nowUs()), drained });
          };
          // One event per loop turn, as long as fewer than `window` are unacknowledged.
          let scheduled = false;
          const next = () => {
            scheduled = false;
            pump();
          };
          const pump = () => {
            if (finished) return;
            lastProgress = Date.now();
            if (nowUs() < measured.endAt) {
              if (!scheduled && seq - acked < window) {
                publishOne();
                scheduled = true;
                setImmediate(next);
              }
            } else if (acked >= seq) {
              finish(true);
            }
          };
          const watchdog = setInterval(() => {
            if (Date.now() - lastProgress > stallMs) finish(false);
            else if (nowUs() >= measured.endAt && acked >= seq) finish(true);
          }, 5);
          onAck = pump;
          pump();
        });
      },

      /**
       * Acknowledged publishing (bench/durability.ts, publish-history): keeps
       * `inflight` publishes outstanding, each replaced as soon as the
       * engine acknowledged it, for `durationMs`; then waits for the last.
       */
      acked({ durationMs, inflight }: { durationMs: number; inflight: number }) {
        const publishAcked = server.publishAcked?.bind(server);
        if (publishAcked === undefined) throw new Error(`${name} has no acknowledged publish`);
        return new Promise((resolve) => {
          const measured = measuredWindow(durationMs);
          const firstSeq = seq + 1;
          let outstanding = 0;
          let acknowledged = 0;
          let errors = 0;
          let firstError: string | undefined;
          let lastAckUs = measured.startUs;
          const settle = (ok: boolean, error?: unknown) => {
            outstanding--;
            if (ok) acknowledged++;
            else {
              errors++;
              firstError ??= String(error);
            }
            lastAckUs = nowUs();
            pump();
          };
          const pump = () => {
            while (outstanding < inflight && nowUs() < measured.endAt) {
              outstanding++;
              publishAcked(makePayload(++seq)).then(
                () => settle(true),
                (error: unknown) => settle(false, error),
              );
            }
            if (outstanding === 0) {
              resolve({ events: acknowledged, errors, firstError, firstSeq, lastSeq: seq, ...measured.figures(lastAckUs) });
            }
          };
          pump();
        });
      },

      /** Starts publishing `eventsPerSec` events per second in the background (timers), until flowStop. */
      flowStart({ eventsPerSec }: { eventsPerSec: number }) {
        if (flow !== undefined) throw new Error('a flow is running');
        const interval = 1e6 / eventsPerSec;
        const firstSeq = seq + 1;
        let next = nowUs();
        let events = 0;
        let late = 0;
        let stopped = false;
        let timer: NodeJS.Timeout | undefined;
        let finish!: (value: { events: number; firstSeq: number; lastSeq: number; late: number }) => void;
        const done = new Promise<{ events: number; firstSeq: number; lastSeq: number; late: number }>((resolve) => (finish = resolve));
        const tick = () => {
          if (stopped) return;
          let now = nowUs();
          if (now - next > interval) late++;
          while (next <= now) {
            publishOne();
            events++;
            next += interval;
          }
          now = nowUs();
          timer = setTimeout(tick, Math.max(0, (next - now) / 1000));
        };
        flow = {
          stop: () => {
            stopped = true;
            clearTimeout(timer);
            finish({ events, firstSeq, lastSeq: seq, late });
          },
          done,
        };
        tick();
        return { firstSeq };
      },

      /** Stops the flow of flowStart; returns what it published (`lastSeq` is the last event's seq). */
      async flowStop() {
        const running = flow;
        if (running === undefined) return { events: 0, firstSeq: seq + 1, lastSeq: seq, late: 0 };
        flow = undefined;
        running.stop();
        return running.done;
      },

      ack({ seq: value }: { seq: number }) {
        if (value > acked) acked = value;
        onAck?.();
      },

      /** Publishes one event now; returns its seq. */
      probe() {
        publishOne();
        return { seq };
      },

      /** Memory after full garbage collections (needs --expose-gc). */
      async memory({ settleMs = 160 }: { settleMs?: number } = {}) {
        if (gc === undefined) throw new Error('start the server with --expose-gc');
        for (let i = 0; i < 4; i++) {
          gc();
          await sleep(settleMs / 4);
        }
        return process.memoryUsage();
      },

      ...profilerCommands(),

      /** Writes a heap snapshot after full garbage collections (bench/heap.ts). */
      async heapSnapshot({ file }: { file: string }) {
        if (gc === undefined) throw new Error('start the server with --expose-gc');
        for (let i = 0; i < 3; i++) {
          gc();
          await sleep(40);
        }
        return { file: writeHeapSnapshot(file) };
      },

      exit() {
        setImmediate(() => {
          void server.close().finally(() => process.exit(0));
          setTimeout(() => process.exit(0), 2000).unref();
        });
      },
    },
    { name, port: server.port, pid: process.pid },
  );
}
