/**
 * One open SSE stream (a subscription over `httpSubscriptionLink`), as the
 * HTTP transport keeps it: it counts as a connection while it is open, its
 * unwritten bytes are held to the output budget, and the server ends it
 * (slow consumer, session expired, shutdown) by destroying the response,
 * so the client's `EventSource` reconnects with `Last-Event-ID` and
 * resumes from history.
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../../core/logger.js';
import type { TransportCounters } from '../../core/metrics.js';

/** Longest delay `setTimeout` takes (about 24.8 days); a session ending later is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Why the server ended a stream. */
export type StreamEnd = 'slow consumer' | 'session expired' | 'server shutting down';

/** What every stream of a server shares. */
export interface SseStreamDeps {
  /** The output budget: most bytes waiting in the response before the stream is ended. */
  maxBufferedBytes: number;
  /** The SSE `retry:` field written first, if any. */
  retryMs: number | undefined;
  counters: TransportCounters;
  logger: Logger;
  /** Called once when the response has closed. */
  onClosed: (stream: SseStream) => void;
}

type Write = (chunk: string | Uint8Array) => boolean;

/** One open stream (see the module comment). */
export class SseStream {
  #ended: StreamEnd | undefined;
  #expiry: NodeJS.Timeout | undefined;

  constructor(
    readonly res: ServerResponse,
    /** The client IP the caps count it under. */
    readonly ip: string,
    private readonly deps: SseStreamDeps,
  ) {
    const write = res.write.bind(res) as Write;
    let first = deps.retryMs !== undefined;
    let corked = false;
    const uncork = () => {
      corked = false;
      res.uncork();
    };
    // tRPC's adapter waits for 'drain' whenever write() returns false, which
    // would park the events in the core's queue, out of the budget's sight:
    // every write is taken, and the budget bounds what waits in the socket.
    // tRPC writes each event in pieces (`data:` line, `id:` line, blank
    // line): corked until the loop turn ends, they leave in one writev
    // (measured: 13-33% less CPU per delivery, a third less system time).
    const budgeted: Write = (chunk) => {
      if (this.#ended !== undefined) return true;
      if (res.writableLength > deps.maxBufferedBytes) {
        this.#slowConsumer();
        return true;
      }
      if (first) {
        first = false;
        // Only into an event stream (a request that asked for one may still be answered with JSON).
        if (String(res.getHeader('content-type')).startsWith('text/event-stream')) write(`retry: ${String(deps.retryMs)}\n\n`);
      }
      if (!corked) {
        corked = true;
        res.cork();
        setImmediate(uncork);
      }
      write(chunk);
      return true;
    };
    res.write = budgeted as ServerResponse['write'];
    res.once('close', () => this.#onClose());
  }

  /** Why the server ended it, if it did. */
  get ended(): StreamEnd | undefined {
    return this.#ended;
  }

  /** Ends the stream when the session ends at `at` (see `sessionExpiresAt`). */
  expireAt(at: Date | number): void {
    const delay = +at - Date.now();
    if (Number.isNaN(delay)) {
      this.deps.logger.warn('sessionExpiresAt gave no valid time: the session does not expire', { ip: this.ip, value: String(at) });
      return;
    }
    if (delay > MAX_TIMER_MS) return;
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.end('session expired'), Math.max(0, delay));
  }

  /**
   * Ends the stream without tRPC's `return` event, so the client's
   * `EventSource` reconnects (after the `retry:` delay) and resumes from
   * `Last-Event-ID`; tRPC sees the response close and stops the
   * subscription. Safe to call twice.
   */
  end(why: StreamEnd): void {
    if (this.#ended !== undefined) return;
    this.#ended = why;
    clearTimeout(this.#expiry);
    this.deps.logger.debug('ending an SSE stream', { ip: this.ip, why });
    this.res.destroy();
  }

  #slowConsumer(): void {
    this.deps.counters.slowConsumerCloses++;
    this.deps.logger.warn('closing slow SSE consumer', { ip: this.ip, bufferedBytes: this.res.writableLength });
    this.end('slow consumer');
  }

  #onClose(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    this.deps.onClosed(this);
  }
}
