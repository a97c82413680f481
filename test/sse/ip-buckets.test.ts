/**
 * The per-IP request buckets of the HTTP transport (and the bucket
 * arithmetic it shares with the WebSocket connections), under fake timers:
 * refill, a batch's tokens all or nothing, forgetting full buckets.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IpBuckets } from '../../src/transport/http/ip-buckets.js';
import { msUntil, rateLimitOf, refilled } from '../../src/transport/ws/token-bucket.js';

describe('IpBuckets', () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] }));
  afterEach(() => void vi.useRealTimers());

  it('gives each IP a burst, refills it at the rate, and says how long until the next token', () => {
    const buckets = new IpBuckets({ requestsPerSecond: 10, burst: 2 });
    expect([buckets.take('a', 1), buckets.take('a', 1)]).toEqual([0, 0]);
    expect(buckets.take('a', 1)).toBe(100);
    expect(buckets.take('b', 1)).toBe(0); // another IP, its own bucket
    vi.advanceTimersByTime(100);
    expect(buckets.take('a', 1)).toBe(0);
    expect(buckets.take('a', 1)).toBe(100);
    buckets.clear();
  });

  it('takes a batch all or nothing, and at most a burst of it', () => {
    const buckets = new IpBuckets({ requestsPerSecond: 10, burst: 3 });
    expect(buckets.take('a', 2)).toBe(0);
    expect(buckets.take('a', 2)).toBe(100); // one token left: nothing taken
    expect(buckets.take('a', 1)).toBe(0);
    vi.advanceTimersByTime(300);
    expect(buckets.take('a', 50)).toBe(0); // a batch larger than the burst takes the burst
    buckets.clear();
  });

  it('forgets refilled buckets, and stops its timer when none is left', () => {
    const buckets = new IpBuckets({ requestsPerSecond: 10, burst: 2 });
    buckets.take('a', 1);
    buckets.take('b', 2);
    expect(buckets.size).toBe(2);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(buckets.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    buckets.take('c', 1);
    expect(vi.getTimerCount()).toBe(1);
    buckets.clear();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('the shared bucket arithmetic', () => {
  it('refills at the rate up to the burst, and counts the wait from a debt', () => {
    const limit = { requestsPerSecond: 4, burst: 8 };
    expect(refilled(limit, 0, 0, 500)).toBe(2);
    expect(refilled(limit, 6, 0, 10_000)).toBe(8);
    expect(msUntil(limit, -1)).toBe(500);
    expect(msUntil(limit, 1)).toBe(0);
    expect(msUntil(limit, 0.5, 2)).toBe(375);
  });

  it('validates the option: off with false, the default without one', () => {
    expect(rateLimitOf(false)).toBeUndefined();
    expect(rateLimitOf(undefined)).toEqual({ requestsPerSecond: 1000, burst: 2000 });
    expect(() => rateLimitOf({ requestsPerSecond: 0, burst: 1 })).toThrow(RangeError);
    expect(() => rateLimitOf({ requestsPerSecond: 1, burst: 0.5 })).toThrow(RangeError);
  });
});
