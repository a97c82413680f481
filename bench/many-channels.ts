/**
 * The `many-channels` scenario of `npm run bench`: 10,000 rooms of 2
 * members each, every room publishing. trpc-pubsub (the keyed `room` topic:
 * one channel per room) against Socket.IO rooms (`io.to(room).emit`) and
 * raw `ws` with a hand-written room map (bench/lib/room-map.ts).
 *
 * Members: 10,000 connections, each a member of 2 rooms (20,000
 * memberships, 2 per room), not a socket per member: `ulimit -n` is 20,000
 * (soft and hard) on the bench machine and cannot be raised (no
 * CAP_SYS_RESOURCE), and the server process would need 20,000 sockets plus
 * its own descriptors. Connection i joins rooms i and i + 5,000 (mod
 * 10,000), so that the rooms published in one loop turn have distinct
 * members (no system gets to coalesce two frames for one socket).
 *
 * Publishing: from the server, the same for every system: one event per
 * room in turn, round robin, {@link ROOMS_PER_TURN} rooms per event-loop
 * turn, saturating (the harness's `saturate` loop with `rooms`); every
 * frame is waited for. Then latency: the same round robin at half of
 * raw-ws's saturation rate measured in this run, paced by timers, read at
 * one connection in ten. Systems run one after the other (connect, measure
 * `repeat` times, disconnect), not interleaved: 30,000 idle connections
 * would exceed the load generator's descriptors and their keepalives would
 * share core 0 with the server under test.
 *
 * Knobs: BENCH_ROOMS (10,000), BENCH_ROOMS_PER_TURN (10).
 */
import type { ChildProc } from './lib/ipc.js';
import type { Sample, Target } from './lib/systems.js';

/** Rooms. */
export const ROOMS = Number(process.env['BENCH_ROOMS'] ?? 10_000);
/** Members per room. */
export const MEMBERS_PER_ROOM = 2;
/** Rooms each connection joins. */
export const ROOMS_PER_CONN = 2;
/** Rooms published per event-loop turn while saturating (each one event). */
export const ROOMS_PER_TURN = Number(process.env['BENCH_ROOMS_PER_TURN'] ?? 10);

/** What bench/run.ts hands over: its measurement primitives, bound to its load generator and configuration. */
export interface ManyChannelsContext {
  repeat: number;
  /** The systems of the run that have rooms (raw-ws first: it sets the latency rate). */
  targets: Target[];
  server(target: Target): ChildProc<{ port: number }>;
  connect(name: string, target: Target, server: ChildProc<{ port: number }>, n: number, rooms: { count: number; perConn: number }): Promise<{ connectsPerSec: number }>;
  saturation(name: string, server: ChildProc, subscribers: number, perTurn: number, to: { rooms: number; fanout: number }): Promise<Sample>;
  latency(name: string, server: ChildProc, subscribers: number, eventsPerSec: number, to: { rooms: number; fanout: number }): Promise<Sample>;
  disconnect(name: string, server: ChildProc): Promise<void>;
  record(system: string, sample: Sample): void;
  log(message: string): void;
}

/** Whether `target` can run the scenario (trpc-by-hand has no rooms). */
export function hasRooms(target: Target): boolean {
  return target.system !== 'trpc-by-hand';
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

/** Runs the scenario; rows go through `ctx.record` (one per system: saturation figures, latency percentiles). */
export async function runManyChannels(ctx: ManyChannelsContext): Promise<void> {
  const conns = (ROOMS * MEMBERS_PER_ROOM) / ROOMS_PER_CONN;
  const memberships = conns * ROOMS_PER_CONN;
  const to = { rooms: ROOMS, fanout: MEMBERS_PER_ROOM };
  ctx.log(`many-channels: ${ROOMS} rooms × ${MEMBERS_PER_ROOM} members on ${conns} connections (${ROOMS_PER_CONN} rooms each), ${ROOMS_PER_TURN} rooms published per loop turn`);
  let rate: number | undefined;
  for (const target of ctx.targets) {
    const server = ctx.server(target);
    const name = `${target.label}:rooms`;
    const connected = await ctx.connect(name, target, server, conns, { count: ROOMS, perConn: ROOMS_PER_CONN });
    ctx.log(`  many-channels ${target.label}: ${conns} connections, ${memberships} memberships at ${connected.connectsPerSec.toFixed(0)} conn/s`);
    try {
      const saturated: Sample[] = [];
      for (let rep = 0; rep < ctx.repeat; rep++) saturated.push(await ctx.saturation(name, server, memberships, ROOMS_PER_TURN, to));
      // Half of raw-ws's saturation (the first target), as the latency scenario does.
      rate ??= medianOf(saturated.map((s) => s.eventsPerSec ?? Number.NaN)) / 2;
      const ownSaturation = medianOf(saturated.map((s) => s.eventsPerSec ?? Number.NaN));
      for (const [rep, sample] of saturated.entries()) {
        const timed = await ctx.latency(name, server, memberships, rate, to);
        const notes = [
          sample.note,
          `${conns} connections × ${ROOMS_PER_CONN} rooms (${connected.connectsPerSec.toFixed(0)} conn/s)`,
          `${ROOMS_PER_TURN} rooms per loop turn`,
          `latency at ${rate.toFixed(0)} events/s${ownSaturation < rate ? ' (overloaded: above its own saturation)' : ''}: ${timed.note ?? ''}${timed.complete ? '' : ', incomplete'}`,
        ].filter((n) => n !== undefined && n !== '');
        const merged: Sample = { ...sample, complete: sample.complete && timed.complete, note: notes.join('; ') };
        if (timed.p50Ms !== undefined) merged.p50Ms = timed.p50Ms;
        if (timed.p99Ms !== undefined) merged.p99Ms = timed.p99Ms;
        if (timed.maxMs !== undefined) merged.maxMs = timed.maxMs;
        if (rep === 0) merged.connectsPerSec = connected.connectsPerSec;
        ctx.record(target.label, merged);
      }
    } finally {
      await ctx.disconnect(name, server);
    }
  }
}
