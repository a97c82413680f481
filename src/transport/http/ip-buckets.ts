/**
 * The `rateLimit` bucket of each client IP, for HTTP requests (a
 * WebSocket connection has its own). Full buckets are forgotten, so the
 * memory follows the IPs that sent requests lately, not every IP ever seen.
 * @module
 */
import type { RateLimit } from '../ws/options.js';
import { msUntil, refilled, type Bucket } from '../ws/token-bucket.js';

/** How often buckets that refilled are forgotten. */
const SWEEP_MS = 10_000;

/** Per-IP request buckets (see the module comment). */
export class IpBuckets {
  readonly #buckets = new Map<string, Bucket>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(readonly limit: RateLimit) {}

  /** IPs with a bucket that is not full. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes `count` tokens (at most a burst) from `ip`'s bucket: 0 when they
   * were there, else the milliseconds until they will be (nothing taken).
   */
  take(ip: string, count: number): number {
    const limit = this.limit;
    const wanted = Math.min(count, limit.burst);
    const now = performance.now();
    let bucket = this.#buckets.get(ip);
    if (bucket === undefined) {
      bucket = { tokens: limit.burst, at: now };
      this.#buckets.set(ip, bucket);
      this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
    } else {
      bucket.tokens = refilled(limit, bucket.tokens, bucket.at, now);
      bucket.at = now;
    }
    if (bucket.tokens < wanted) return msUntil(limit, bucket.tokens, wanted);
    bucket.tokens -= wanted;
    return 0;
  }

  /** Forgets every bucket and stops the sweeper. */
  clear(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#buckets.clear();
  }

  #sweep(): void {
    const now = performance.now();
    for (const [ip, bucket] of this.#buckets) {
      if (refilled(this.limit, bucket.tokens, bucket.at, now) >= this.limit.burst) this.#buckets.delete(ip);
    }
    if (this.#buckets.size === 0) this.clear();
  }
}
