/**
 * The resume-latency client (bench/durability.ts): one subscriber on the
 * library's own client (`createPubSubClient` from `trpc-pubsub/client`, over
 * `ws`, default retry options: the first reconnect is immediate), in a
 * process of its own pinned by the orchestrator. On command it drops its
 * socket (`terminate()`: no closing handshake, as a lost network) while the
 * server keeps publishing, and times how long the first event after the
 * drop takes to arrive (wsLink reconnects and resubscribes with
 * `lastEventId`; the server replays what was missed). Every event's `seq`
 * is checked for loss and duplicates.
 */
import WebSocket from 'ws';
import type * as ClientModule from 'trpc-pubsub/client';
import { nowUs, sleep } from './lib/clock.js';
import { serve } from './lib/ipc.js';
import type { BenchPayload } from './lib/payload.js';

/** The library's client: the tsc build bench/run.ts makes (BENCH_TRPC_PUBSUB_CLIENT), or client/ through tsx. */
const { createPubSubClient } = (await import(process.env['BENCH_TRPC_PUBSUB_CLIENT'] ?? 'trpc-pubsub/client')) as typeof ClientModule;

/** The socket the client uses now, and when it opened (shared clock, µs). */
let current: WebSocket | undefined;
let openedAt = 0;

/** `ws`, remembering each socket the client opens so that the bench can drop it. */
class DroppableWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols, { perMessageDeflate: false });
    current = this;
    this.once('open', () => {
      if (current === this) openedAt = nowUs();
    });
  }
}

/** The part of the client this process uses, untyped by router (the bench server's router type is not imported here). */
interface BenchClient {
  ready(): Promise<void>;
  subscribe(topic: 'news', options: { onGap?: (gap: unknown) => void }, callback: (event: { payload: BenchPayload }) => void): { started: Promise<void> };
  close(): Promise<void>;
}

let client: BenchClient | undefined;
let lastSeq = 0;
let events = 0;
let lost = 0;
let duplicates = 0;
let gaps = 0;
/** Set while a drop waits for its first event. */
let waiter: ((event: { seq: number; t: number; recvUs: number }) => void) | undefined;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(valuesMs: number[]) {
  const sorted = [...valuesMs].sort((a, b) => a - b);
  return { n: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted[sorted.length - 1] ?? Number.NaN };
}

serve(
  {
    /** Connects, subscribes to `news` and waits for the first event. */
    async start({ url }: { url: string }) {
      const c = createPubSubClient<any>({ url, WebSocket: DroppableWebSocket }) as unknown as BenchClient;
      client = c;
      await c.ready();
      const first = new Promise<void>((resolve) => {
        waiter = () => resolve();
      });
      const subscription = c.subscribe(
        'news',
        {
          onGap: () => {
            gaps++;
          },
        },
        (event: { payload: BenchPayload }) => {
          const recvUs = nowUs();
          const { seq, t } = event.payload;
          events++;
          if (lastSeq !== 0) {
            if (seq <= lastSeq) duplicates++;
            else if (seq > lastSeq + 1) lost += seq - lastSeq - 1;
          }
          if (seq > lastSeq) lastSeq = seq;
          const w = waiter;
          waiter = undefined;
          w?.({ seq, t, recvUs });
        },
      );
      await subscription.started;
      await Promise.race([first, sleep(10_000).then(() => Promise.reject(new Error('no event within 10 s')))]);
      return { ok: true };
    },

    /**
     * `n` drops, each `pauseMs` (a random time in [min, max]) after the
     * previous one resumed: terminate the socket, wait for the first event.
     */
    async drops({ n, pauseMinMs, pauseMaxMs, timeoutMs }: { n: number; pauseMinMs: number; pauseMaxMs: number; timeoutMs: number }) {
      const all: number[] = [];
      const replayed: number[] = [];
      let contiguous = 0;
      let timeouts = 0;
      for (let i = 0; i < n; i++) {
        await sleep(pauseMinMs + Math.random() * (pauseMaxMs - pauseMinMs));
        const socket = current;
        if (socket === undefined) throw new Error('no socket');
        const before = lastSeq;
        const got = new Promise<{ seq: number; t: number; recvUs: number }>((resolve) => {
          waiter = resolve;
        });
        const dropUs = nowUs();
        socket.terminate();
        const event = await Promise.race([got, sleep(timeoutMs).then(() => undefined)]);
        if (event === undefined) {
          waiter = undefined;
          timeouts++;
          continue;
        }
        const ms = (event.recvUs - dropUs) / 1000;
        all.push(ms);
        // Published before the new socket opened: it can only have come from the history.
        if (current !== socket && event.t < openedAt) replayed.push(ms);
        if (event.seq === before + 1) contiguous++;
      }
      return { drops: n, timeouts, contiguous, all: summary(all), replayed: summary(replayed), events, lost, duplicates, gaps };
    },

    /** Totals so far (after the server stopped publishing: `lastSeq` tells whether the tail arrived). */
    totals: () => ({ events, lastSeq, lost, duplicates, gaps }),

    async stop() {
      await client?.close();
      client = undefined;
      return { ok: true };
    },

    exit() {
      setImmediate(() => process.exit(0));
    },
  },
  { name: 'resume-client', pid: process.pid },
);
