import type { Socket } from 'node:net';

/**
 * Coalesces the frames bound for one socket within one event-loop turn:
 * the first frame of a turn is written at once (no added latency); from the
 * second on, the socket is corked and everything goes out in one `writev`
 * when the turn ends. Bursts cost one syscall per socket instead of one per
 * frame (the trick behind uWebSockets' pub/sub numbers).
 */
export class WriteCoalescer {
  #turn = 0;
  #turnOpen = false;
  readonly #corked: CoalescedSocket[] = [];
  readonly #endTurn = () => {
    this.#turnOpen = false;
    this.#turn++;
    const corked = this.#corked;
    for (let i = 0; i < corked.length; i++) {
      const socket = corked[i]!;
      socket.corked = false;
      socket.raw.uncork();
    }
    corked.length = 0;
  };

  /** Writes `frame` to `socket`, corking it if it already got a frame this turn. */
  write(socket: CoalescedSocket, frame: Buffer): void {
    if (!this.#turnOpen) {
      this.#turnOpen = true;
      setImmediate(this.#endTurn);
    }
    if (socket.lastTurn === this.#turn && !socket.corked) {
      socket.raw.cork();
      socket.corked = true;
      this.#corked.push(socket);
    }
    socket.lastTurn = this.#turn;
    socket.raw.write(frame);
  }
}

/** Per-socket state the {@link WriteCoalescer} keeps. */
export interface CoalescedSocket {
  readonly raw: Socket;
  lastTurn: number;
  corked: boolean;
}
