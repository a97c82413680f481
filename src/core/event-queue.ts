import { TRPCError } from '@trpc/server';

/** Options of {@link EventQueue}. */
export interface EventQueueOptions {
  /**
   * Most undelivered events held for a slow consumer. Past it, the iterator
   * fails with `TOO_MANY_REQUESTS` rather than dropping events silently.
   * @default 10_000
   */
  maxQueued?: number;
  /** Aborting ends the iterator (it returns `done`). */
  signal?: AbortSignal;
  /** Called once when the iterator ends, whatever the reason. */
  onEnd: () => void;
}

/** Default of {@link EventQueueOptions.maxQueued}. */
export const DEFAULT_MAX_QUEUED = 10_000;

/**
 * A push-fed async iterator: producers `push`, one consumer `for await`s.
 * Bounded; ends on `return()`, abort or overflow, and calls `onEnd` once.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = [];
  #head = 0;
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  #ended = false;
  #failure: unknown;
  readonly #maxQueued: number;
  readonly #onEnd: () => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#finish();

  constructor(options: EventQueueOptions) {
    this.#maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.#onEnd = options.onEnd;
    this.#signal = options.signal;
    if (this.#signal?.aborted) this.#finish();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Whether the iterator has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Number of events waiting to be consumed. */
  get queued(): number {
    return this.#items.length - this.#head;
  }

  /** Adds an event; ignored once ended. */
  push(item: T): void {
    if (this.#ended) return;
    if (this.#waiter !== undefined) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.resolve({ value: item, done: false });
      return;
    }
    if (this.queued >= this.#maxQueued) {
      this.fail(
        new TRPCError({
          code: 'TOO_MANY_REQUESTS',
          message: `Subscriber fell behind: more than ${this.#maxQueued} events queued`,
        }),
      );
      return;
    }
    this.#items.push(item);
  }

  /** Ends the iterator with `error`: the events still queued are dropped, and the next read rejects with it. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#failure = error;
    this.#items.length = this.#head = 0;
    this.#finish();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++] as T;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items.splice(0, this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#failure !== undefined) {
      const failure = this.#failure;
      this.#failure = undefined;
      return Promise.reject(failure);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.#items.length = this.#head = 0;
    this.#failure = undefined;
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.#finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter !== undefined) {
      if (this.#failure !== undefined) {
        const failure = this.#failure;
        this.#failure = undefined;
        waiter.reject(failure);
      } else waiter.resolve({ value: undefined, done: true });
    }
    this.#onEnd();
  }
}
