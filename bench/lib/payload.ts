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
