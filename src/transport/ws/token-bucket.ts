/**
 * The request bucket both transports apply (`rateLimit`): the refill
 * arithmetic and the option's validation. A WebSocket connection keeps its
 * bucket in two number fields of its own (no object per connection); the
 * HTTP transport keeps one {@link Bucket} per client IP.
 * @module
 */
import { DEFAULT_RATE_LIMIT, type RateLimit } from './options.js';

/** A bucket's state: tokens held (negative: a debt) as of `at` (`performance.now()`). */
export interface Bucket {
  tokens: number;
  at: number;
}

/** The tokens a bucket holding `tokens` at `at` holds at `now`: refilled at the limit's rate, at most `burst`. */
export function refilled(limit: RateLimit, tokens: number, at: number, now: number): number {
  return Math.min(limit.burst, tokens + ((now - at) * limit.requestsPerSecond) / 1000);
}

/** Milliseconds until a bucket holding `tokens` holds `wanted` again (0 if it does). */
export function msUntil(limit: RateLimit, tokens: number, wanted = 1): number {
  const missing = wanted - tokens;
  return missing > 0 ? Math.ceil((missing * 1000) / limit.requestsPerSecond) : 0;
}

/** The request bucket `rateLimit` asks for (`undefined`: off). */
export function rateLimitOf(option: RateLimit | false | undefined): RateLimit | undefined {
  const limit = option ?? DEFAULT_RATE_LIMIT;
  if (limit === false) return undefined;
  if (!(limit.requestsPerSecond > 0) || !(limit.burst >= 1)) throw new RangeError('rateLimit needs requestsPerSecond > 0 and burst >= 1');
  return { requestsPerSecond: limit.requestsPerSecond, burst: limit.burst };
}
