/**
 * `Deadlines`: many calls bounded by one shared timer, answered calls
 * forgotten at once, late answers ignored (rejections included), the
 * broker client's own timeouts reported as `CommandTimeoutError`, and a
 * `close()` that clears the timer, fails what waits, and is safe twice.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommandTimeoutError, commandTimeout, Deadlines, DEFAULT_COMMAND_TIMEOUT_MS, isCommandTimeout } from '../../src/engine/deadline.js';
import { deferred } from '../fixtures/inbox.js';

describe('Deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('times out every unanswered call with one timer, and forgets answered ones at once', async () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100, { now: () => Date.now() });
    const stuck = Array.from({ length: 50 }, (_, i) => deadlines.bound(`call ${i}`, () => new Promise<never>(() => {})));
    const answered = deadlines.bound('answered', () => Promise.resolve('yes'));
    expect(vi.getTimerCount()).toBe(1);
    expect(await answered).toBe('yes');
    expect(deadlines.pending).toBe(50);
    const outcomes = Promise.allSettled(stuck);
    await vi.advanceTimersByTimeAsync(100);
    const settled = await outcomes;
    expect(settled.every((s) => s.status === 'rejected' && s.reason instanceof CommandTimeoutError)).toBe(true);
    expect((settled[7] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_TRPC_PUBSUB_COMMAND_TIMEOUT', command: 'call 7', timeoutMs: 100 });
    expect(deadlines.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rearms for the next deadline, so calls made later get their full time', async () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100, { now: () => Date.now() });
    const first = deadlines.bound('first', () => new Promise<never>(() => {})).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(60);
    const second = deadlines.bound('second', () => new Promise<never>(() => {})).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(40);
    expect(isCommandTimeout(await first)).toBe(true);
    expect(deadlines.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(59);
    expect(deadlines.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(isCommandTimeout(await second)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('tells the call its deadline expired, and ignores its late answer or failure', async () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(50, { now: () => Date.now() });
    const answer = deferred<string>();
    let seen: { expired: boolean } | undefined;
    const call = deadlines.bound('late', (deadline) => {
      seen = deadline;
      return answer.promise;
    });
    const failure = call.catch((error: unknown) => error);
    expect(seen?.expired).toBe(false);
    await vi.advanceTimersByTimeAsync(50);
    expect(seen?.expired).toBe(true);
    expect(isCommandTimeout(await failure)).toBe(true);
    answer.reject(new Error('too late')); // handled: no unhandled rejection
    await vi.advanceTimersByTimeAsync(0);
  });

  it("reports the broker client's own timeout as a CommandTimeoutError, other failures as they are", async () => {
    const deadlines = new Deadlines(1000, { isTimeout: (error) => (error as Error).message === 'Command timed out' });
    const timedOut = await deadlines.bound('redis publish', () => Promise.reject(new Error('Command timed out'))).catch((error: unknown) => error);
    expect(timedOut).toBeInstanceOf(CommandTimeoutError);
    expect(timedOut).toMatchObject({ message: 'redis publish got no answer within 1000 ms', cause: { message: 'Command timed out' } });
    await expect(deadlines.bound('redis publish', () => Promise.reject(new Error('ECONNREFUSED')))).rejects.toThrow('ECONNREFUSED');
    deadlines.close();
  });

  it('fails waiting calls at close, clears its timer, does not bound later calls, and closes safely twice', async () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100, { now: () => Date.now() });
    const waiting = deadlines.bound('waiting', () => new Promise<never>(() => {}));
    expect(vi.getTimerCount()).toBe(1);
    deadlines.close();
    deadlines.close();
    await expect(waiting).rejects.toThrow('waiting: closed before an answer came');
    expect(vi.getTimerCount()).toBe(0);
    expect(await deadlines.bound('after close', () => Promise.resolve(1))).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('takes positive timeouts and Infinity (nothing bounded), and refuses the rest', async () => {
    expect(commandTimeout('x', undefined)).toBe(DEFAULT_COMMAND_TIMEOUT_MS);
    expect(commandTimeout('x', 300)).toBe(300);
    expect(commandTimeout('x', Infinity)).toBe(Infinity);
    expect(commandTimeout('x', 2 ** 40)).toBe(Infinity);
    for (const bad of [0, -1, Number.NaN]) expect(() => commandTimeout('x', bad)).toThrow(TypeError);
    const unbounded = new Deadlines(Infinity);
    await expect(unbounded.bound('sync throw', () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(unbounded.pending).toBe(0);
  });
});
