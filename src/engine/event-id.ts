/**
 * Event ids, made by engines: `<epoch>:<position>`. The epoch names one
 * history (a memory engine's life, a broker stream); the position orders
 * the events of that history. Both are opaque to clients (PROTOCOL.md §3).
 * The one place ids and instance ids are made and read.
 * @module
 */
import { randomBytes } from 'node:crypto';

/** Epochs and instance ids: 1 to 32 letters and digits. */
export const EPOCH_PATTERN = /^[A-Za-z0-9]{1,32}$/;

/** Random bytes drawn in bulk: broker histories offer an epoch on every append (used only the first time), so one draw must be cheap. */
let randomPool = Buffer.alloc(0);
let randomOffset = 0;

/** A fresh random epoch or instance id: 8 letters and digits. */
export function randomEpoch(): string {
  if (randomOffset + 6 > randomPool.length) {
    randomPool = randomBytes(6 * 512);
    randomOffset = 0;
  }
  const bytes = randomPool.subarray(randomOffset, (randomOffset += 6));
  return bytes.toString('base64url').replace(/[^A-Za-z0-9]/g, 'x');
}

/**
 * A counter as a string that sorts like the number: base 36, prefixed with
 * its length in one base-36 digit (`1` → `11`, `36` → `210`).
 */
export function sortablePosition(seq: number): string {
  const digits = seq.toString(36);
  return digits.length.toString(36) + digits;
}

/** The number a {@link sortablePosition} string stands for, or `undefined` when it is not one. */
export function parseSortablePosition(position: string): number | undefined {
  if (!/^[1-9a-z][0-9a-z]+$/.test(position)) return undefined;
  const length = Number.parseInt(position[0]!, 36);
  if (position.length !== length + 1) return undefined;
  const value = Number.parseInt(position.slice(1), 36);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** The id of the event at `position` of history `epoch`. */
export function formatEventId(epoch: string, position: string): string {
  return `${epoch}:${position}`;
}

/** The epoch and position of an id, or `undefined` when it is not `<epoch>:<position>`. */
export function parseEventId(id: string): { epoch: string; position: string } | undefined {
  const colon = id.indexOf(':');
  if (colon <= 0 || colon === id.length - 1) return undefined;
  const epoch = id.slice(0, colon);
  return EPOCH_PATTERN.test(epoch) ? { epoch, position: id.slice(colon + 1) } : undefined;
}

/**
 * The order of two ids of one history: negative when `a` came first, 0 when
 * they are the same, positive when `a` came later; `undefined` when they are
 * not of one epoch (no order between them). Every engine's positions sort
 * by length, then character by character (decimal counters without leading
 * zeros, or {@link sortablePosition}s).
 */
export function compareEventIds(a: string, b: string): number | undefined {
  const left = parseEventId(a);
  const right = parseEventId(b);
  if (left === undefined || right === undefined || left.epoch !== right.epoch) return undefined;
  if (left.position.length !== right.position.length) return left.position.length - right.position.length;
  return left.position < right.position ? -1 : left.position > right.position ? 1 : 0;
}
