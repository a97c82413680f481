/**
 * Bounded waits on broker commands: the timeout error every engine and the
 * core recognise, and {@link Deadlines}, which bounds any number of calls
 * with one shared timer. Every call of one `Deadlines` has the same
 * timeout, so the calls' deadlines come in the order the calls were made:
 * an insertion-ordered `Set` holds them, its first entry is always the
 * nearest deadline, and one timer armed for that entry is all it takes
 * (no timer per call, nothing to cancel when a call is answered).
 * @module
 */

/** Default timeout of one broker command, in milliseconds (engines' `commandTimeoutMs`). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

/** Code of {@link CommandTimeoutError}. */
export const COMMAND_TIMEOUT = 'ERR_TRPC_PUBSUB_COMMAND_TIMEOUT';

/** Longest delay a Node timer takes (about 24.8 days); longer is `Infinity`. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A broker command got no answer within its timeout. It may still be
 * carried out later (the broker was slow, not gone): a publish that failed
 * so is "maybe published" (PROTOCOL.md §4).
 */
export class CommandTimeoutError extends Error {
  override readonly name = 'CommandTimeoutError';
  /** Always {@link COMMAND_TIMEOUT}. */
  readonly code = COMMAND_TIMEOUT;

  constructor(
    /** What was asked, such as `redis publish`. */
    readonly command: string,
    /** The timeout it had, in milliseconds. */
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`${command} got no answer within ${timeoutMs} ms`, options);
  }
}

/** Whether `error` is a {@link CommandTimeoutError} (by its code, so that another copy of this package counts too). */
export function isCommandTimeout(error: unknown): error is CommandTimeoutError {
  return (error as { code?: unknown } | null)?.code === COMMAND_TIMEOUT;
}

/**
 * `value` as a command timeout: a positive number of milliseconds, or
 * `Infinity` for none (so is anything past a Node timer's range).
 * @throws TypeError for anything else
 */
export function commandTimeout(name: string, value: number | undefined): number {
  const ms = value ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms <= 0) throw new TypeError(`${name}: commandTimeoutMs must be a positive number of milliseconds or Infinity`);
  return ms > MAX_TIMER_MS ? Infinity : ms;
}

/** The deadline of one bounded call, as the call sees it. */
export interface Deadline {
  /** Whether the call's time is up (its caller was already told it failed): work not started yet should not start. */
  readonly expired: boolean;
}

/** Runs `run` within a deadline (see {@link Deadlines.bound}). */
export type Within = <T>(command: string, run: (deadline: Deadline) => Promise<T>) => Promise<T>;

/** A deadline that never expires (calls without a timeout). */
const NEVER: Deadline = { expired: false };

interface Entry extends Deadline {
  expired: boolean;
  readonly at: number;
  readonly command: string;
  readonly reject: (error: unknown) => void;
}

/** Options of {@link Deadlines}. */
export interface DeadlinesOptions {
  /**
   * Whether a failure is the broker client's own timeout (ioredis
   * `commandTimeout`, pg `query_timeout`): it is then reported as a
   * {@link CommandTimeoutError} too, with it as the cause.
   */
  isTimeout?: ((error: unknown) => boolean) | undefined;
  /** Monotonic clock in ms. @default performance.now */
  now?: (() => number) | undefined;
}

/** Bounds calls by one timeout with one shared timer (see the module comment). `close()` is safe twice. */
export class Deadlines {
  /** The timeout of every call, in ms (`Infinity`: calls are not bounded). */
  readonly timeoutMs: number;
  /** Calls not answered yet, nearest deadline first. */
  readonly #pending = new Set<Entry>();
  readonly #isTimeout: ((error: unknown) => boolean) | undefined;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(timeoutMs: number, options: DeadlinesOptions = {}) {
    this.timeoutMs = timeoutMs;
    this.#isTimeout = options.isTimeout;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Calls waiting for an answer now. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Runs `run` and settles as it does, or rejects with a
   * {@link CommandTimeoutError} once {@link timeoutMs} has passed (what
   * `run` settles to later is then ignored, a rejection included). `run`
   * gets the call's {@link Deadline}, to skip work queued behind a stall.
   * A closed `Deadlines`, or one without a timeout, only runs `run`.
   */
  readonly bound: Within = <T>(command: string, run: (deadline: Deadline) => Promise<T>): Promise<T> => {
    if (this.#closed || this.timeoutMs === Infinity) {
      try {
        return this.#classified(command, run(NEVER));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = { expired: false, at: this.#now() + this.timeoutMs, command, reject };
      this.#pending.add(entry);
      if (this.#timer === undefined) this.#arm();
      let answer: Promise<T>;
      try {
        answer = run(entry);
      } catch (error) {
        this.#pending.delete(entry);
        reject(error);
        return;
      }
      answer.then(
        (value) => {
          if (this.#pending.delete(entry)) resolve(value);
        },
        (error: unknown) => {
          if (this.#pending.delete(entry)) reject(this.#timeoutOf(command, error));
        },
      );
    });
  };

  /** Clears the timer; calls still waiting fail at once. Later calls are not bounded. Safe twice. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const entry of this.#pending) {
      entry.expired = true;
      entry.reject(new Error(`${entry.command}: closed before an answer came`));
    }
    this.#pending.clear();
  }

  #classified<T>(command: string, answer: Promise<T>): Promise<T> {
    return this.#isTimeout === undefined ? answer : answer.catch((error: unknown) => Promise.reject(this.#timeoutOf(command, error)));
  }

  #timeoutOf(command: string, error: unknown): unknown {
    return this.#isTimeout?.(error) === true && !isCommandTimeout(error) ? new CommandTimeoutError(command, this.timeoutMs, { cause: error }) : error;
  }

  /** Arms the timer for the nearest deadline, if any call waits. */
  #arm(): void {
    const first = this.#pending.values().next();
    if (first.done === true) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(1, Math.ceil(first.value.at - this.#now())));
    this.#timer.unref?.();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.#now();
    for (const entry of this.#pending) {
      if (entry.at > now) break;
      this.#pending.delete(entry);
      entry.expired = true;
      entry.reject(new CommandTimeoutError(entry.command, this.timeoutMs));
    }
    this.#arm();
  }
}
