/** Reconnect backoff of the convenience client. */
export interface RetryOptions {
  /** Delay before the second attempt, in milliseconds (the first reconnect is immediate). @default 250 */
  initialDelayMs?: number;
  /** Longest delay, in milliseconds. @default 10_000 */
  maxDelayMs?: number;
  /** Growth per attempt. @default 2 */
  factor?: number;
  /** Random spread, as a fraction of the delay (0 = none), so clients don't reconnect in lockstep. @default 0.2 */
  jitter?: number;
  /** Consecutive failed connection attempts before giving up (`ready()` rejects). @default Infinity */
  maxAttempts?: number;
}

/** Defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY: Required<RetryOptions> = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * Delay before reconnect attempt `attempt` (0-based): 0 for the first, then
 * `initialDelayMs × factor^(attempt-1)`, capped at `maxDelayMs`, spread by ±jitter.
 */
export function backoffDelay(attempt: number, options: Required<RetryOptions>, random: () => number = Math.random): number {
  if (attempt <= 0) return 0;
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** (attempt - 1));
  const spread = base * options.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(base + spread));
}
