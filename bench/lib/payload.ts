import { nowUs } from './clock.js';

/** The topic (socket.io room, raw-ws channel) every system publishes on. */
export const TOPIC = 'news';

/** Fixed text in every event, so that every system carries the same payload (~90 bytes of JSON). */
export const BODY = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs';

/**
 * The payload of every bench event, identical for all systems. `t` is the
 * publish time in microseconds of the shared monotonic clock (latency);
 * `seq` numbers events per publishing process.
 */
export interface BenchPayload {
  seq: number;
  t: number;
  body: string;
}

/** A payload stamped now. */
export function makePayload(seq: number): BenchPayload {
  return { seq, t: nowUs(), body: BODY };
}

/**
 * The keyed topic of the many-channels scenario (bench/many-channels.ts):
 * trpc-pubsub's `room` topic (one channel per key), a Socket.IO room per
 * name, raw-ws's room map.
 */
export const ROOM_TOPIC = 'room';

/** The name (trpc-pubsub key, Socket.IO room, raw-ws map key) of room `index`. */
export function roomName(index: number): string {
  return `r${index}`;
}

/**
 * The rooms connection `conn` of `conns` joins when every connection holds
 * `perConn` rooms of `rooms`: spread `rooms / perConn` apart, so that the
 * members of consecutive rooms (published in the same loop turn) are
 * distinct connections.
 */
export function roomsOf(conn: number, rooms: number, perConn: number): string[] {
  const stride = Math.floor(rooms / perConn);
  return Array.from({ length: perConn }, (_, k) => roomName((conn + k * stride) % rooms));
}
