import type { Connection } from './connection.js';

/**
 * Server-side keepalive for many connections with one timer: a connection
 * quiet for `pingMs` gets a `PING`; one that stays quiet `pongWaitMs` more is
 * terminated. Cheaper than a timer reset per message per connection.
 *
 * Time is counted in ticks of the timer (half the shorter of the two
 * delays), in {@link Connection.quietTicks}, which every message from the
 * client resets: a small integer per connection instead of timestamps.
 */
export class KeepAlive {
  readonly #timer: NodeJS.Timeout;
  /** Ticks of silence before the PING: a message may arrive just before a tick, so one more than the delay. */
  readonly #pingTicks: number;
  /** Ticks of silence before the connection is given up: the PING is sent on a tick. */
  readonly #deadTicks: number;

  constructor(connections: () => Iterable<Connection>, pingMs: number, pongWaitMs: number) {
    const tick = Math.max(10, Math.min(pingMs, pongWaitMs) / 2);
    this.#pingTicks = Math.ceil(pingMs / tick) + 1;
    this.#deadTicks = this.#pingTicks + Math.ceil(pongWaitMs / tick);
    this.#timer = setInterval(() => this.#check(connections()), tick);
    this.#timer.unref();
  }

  #check(connections: Iterable<Connection>): void {
    for (const connection of connections) {
      const quiet = ++connection.quietTicks;
      if (quiet >= this.#deadTicks) connection.socket.terminate();
      else if (quiet === this.#pingTicks && connection.socket.readyState === 1) connection.socket.send('PING');
    }
  }

  /** Stops the timer; safe to call twice. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
