/**
 * The connection indicator's state, for `useSyncExternalStore`: where the
 * connection stands and how many times it came back. Over WebSocket the
 * convenience client feeds it; over SSE the ticker's stream does (each SSE
 * subscription is its own HTTP stream; the ticker's is always open).
 */

/** What the indicator shows. */
export type LinkStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** A snapshot of the connection. */
export interface ConnectionSnapshot {
  status: LinkStatus;
  /** Times the connection came back after it was lost. */
  reconnects: number;
}

/** A tiny store: `set` from the transport, `subscribe`/`get` from React. */
export class ConnectionStore {
  #snapshot: ConnectionSnapshot = { status: 'connecting', reconnects: 0 };
  readonly #listeners = new Set<() => void>();

  /** Adds a listener; returns what removes it. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** The current snapshot (the same object until something changed). */
  readonly get = (): ConnectionSnapshot => this.#snapshot;

  /** The connection opened: a reconnect if it had been lost. */
  opened(): void {
    const { status, reconnects } = this.#snapshot;
    if (status === 'live') return;
    this.#set({ status: 'live', reconnects: status === 'reconnecting' ? reconnects + 1 : reconnects });
  }

  /** The connection was lost (or is being set up again). */
  lost(): void {
    const { status, reconnects } = this.#snapshot;
    if (status === 'live') this.#set({ status: 'reconnecting', reconnects });
  }

  /** The connection is closed for good. */
  closed(): void {
    this.#set({ ...this.#snapshot, status: 'closed' });
  }

  #set(snapshot: ConnectionSnapshot): void {
    this.#snapshot = snapshot;
    for (const listener of [...this.#listeners]) listener();
  }
}
