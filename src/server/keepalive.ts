import type { Connection } from './connection.js';

/**
 * Server-side keepalive for many connections with one timer: a connection
 * quiet for `pingMs` gets a `PING`; one that stays quiet `pongWaitMs` more is
 * terminated. Cheaper than a timer reset per message per connection.
 */
export class KeepAlive {
  readonly #timer: NodeJS.Timeout;

  constructor(
    connections: () => Iterable<Connection>,
    private readonly pingMs: number,
    private readonly pongWaitMs: number,
  ) {
    const tick = Math.max(10, Math.min(pingMs, pongWaitMs) / 2);
    this.#timer = setInterval(() => this.#check(connections()), tick);
    this.#timer.unref();
  }

  #check(connections: Iterable<Connection>): void {
    const now = Date.now();
    for (const connection of connections) {
      if (connection.pingSentAt !== undefined) {
        if (now - connection.pingSentAt >= this.pongWaitMs) connection.socket.terminate();
      } else if (now - connection.lastSeenAt >= this.pingMs && connection.socket.readyState === 1) {
        connection.pingSentAt = now;
        connection.socket.send('PING');
      }
    }
  }

  /** Stops the timer; safe to call twice. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
