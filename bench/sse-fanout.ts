/**
 * The `sse-fanout-1k` scenario of `npm run bench`: fan-out to 1,000 SSE
 * subscribers against trpc-pubsub's WebSocket path, both measured here side
 * by side (fresh server processes on core 0, repetitions interleaved).
 *
 * - `trpc-pubsub-sse` (bench/servers/trpc-pubsub-sse.ts): the bench app's
 *   pubsub and router over tRPC's `createHTTPHandler`; each subscriber is a
 *   `GET /trpc/news.events?input={}` event stream read by bench/lib/mini-sse.ts
 *   in the load generator (one socket each, `data:` lines counted).
 * - `trpc-pubsub` (bench/servers/trpc-pubsub.ts): the same app on
 *   `createPubSubServer`, 1,000 WebSocket subscribers, as in fanout-1k.
 *
 * Both: server-side publish, one event per loop turn, saturating, every
 * delivery waited for; then latency at half of the SSE path's saturation
 * (the slower one, so that neither is overloaded), read at one subscriber
 * in ten. The SSE row's `ratios['trpc-pubsub']` is its deliveries/s ÷ the
 * WebSocket path's.
 */
import type { ChildProc } from './lib/ipc.js';
import type { Sample, Target } from './lib/systems.js';

/** The scenario's subscribers. */
export const SSE_SUBSCRIBERS = 1000;

/** The SSE system (`--system` does not select it: the scenario always runs both paths). */
export const SSE_TARGET: Target = { label: 'trpc-pubsub-sse', system: 'trpc-pubsub-sse', entry: 'trpc-pubsub-sse', protocol: 'sse', args: [] };

/** What bench/run.ts hands over: its measurement primitives, bound to its load generator and configuration. */
export interface SseFanoutContext {
  repeat: number;
  /** trpc-pubsub's WebSocket target (the reference). */
  ws: Target;
  startServer(target: Target, name: string): Promise<ChildProc<{ port: number }>>;
  connect(name: string, target: Target, server: ChildProc<{ port: number }>, n: number): Promise<{ connectsPerSec: number }>;
  saturation(name: string, server: ChildProc, subscribers: number, perTurn: number): Promise<Sample>;
  latency(name: string, server: ChildProc, subscribers: number, eventsPerSec: number): Promise<Sample>;
  disconnect(name: string, server: ChildProc): Promise<void>;
  record(system: string, sample: Sample): void;
  log(message: string): void;
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

/** Runs the scenario; rows go through `ctx.record`. */
export async function runSseFanout(ctx: SseFanoutContext): Promise<void> {
  const targets = [ctx.ws, SSE_TARGET];
  ctx.log(`sse-fanout-1k: ${SSE_SUBSCRIBERS} SSE subscribers (createHTTPHandler) against ${SSE_SUBSCRIBERS} WebSocket subscribers (createPubSubServer)`);
  const servers = await Promise.all(targets.map((target) => ctx.startServer(target, `${target.label} (sse-fanout-1k)`)));
  const name = (target: Target) => `${target.label}:sse-fanout`;
  try {
    const connects: number[] = [];
    for (const [i, target] of targets.entries()) connects.push((await ctx.connect(name(target), target, servers[i]!, SSE_SUBSCRIBERS)).connectsPerSec);
    const saturated: Sample[][] = targets.map(() => []);
    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const [i, target] of targets.entries()) saturated[i]!.push(await ctx.saturation(name(target), servers[i]!, SSE_SUBSCRIBERS, 1));
    }
    const sseRate = medianOf(saturated[1]!.map((s) => s.eventsPerSec ?? Number.NaN)) / 2;
    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const [i, target] of targets.entries()) {
        const sample = saturated[i]![rep]!;
        const timed = await ctx.latency(name(target), servers[i]!, SSE_SUBSCRIBERS, sseRate);
        const notes = [sample.note, `latency at ${sseRate.toFixed(1)} events/s (half of SSE's saturation): ${timed.note ?? ''}${timed.complete ? '' : ', incomplete'}`];
        const merged: Sample = { ...sample, complete: sample.complete && timed.complete, note: notes.filter((n) => n !== undefined && n !== '').join('; ') };
        if (timed.p50Ms !== undefined) merged.p50Ms = timed.p50Ms;
        if (timed.p99Ms !== undefined) merged.p99Ms = timed.p99Ms;
        if (timed.maxMs !== undefined) merged.maxMs = timed.maxMs;
        if (rep === 0) merged.connectsPerSec = connects[i]!;
        ctx.record(target.label, merged);
      }
    }
    for (const [i, target] of targets.entries()) await ctx.disconnect(name(target), servers[i]!);
  } finally {
    await Promise.all(servers.map((server) => server.stop(3000)));
  }
}
