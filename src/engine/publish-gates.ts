/**
 * Read-your-writes for a bridge engine's publishes: a publish on a channel
 * whose broker subscription is still in flight waits for it (so that a
 * local subscriber that arrived before the publish sees it), and later
 * publishes on that channel wait behind it (so that they keep their
 * order). Every wait is cut short when the broker connection is lost.
 * @module
 */

/** The per-channel publish gates of one engine. */
export class PublishGates {
  /** Per channel: settles when the last publish that had to wait was sent (or failed). */
  readonly #tails = new Map<string, Promise<void>>();
  /** Releases of publishes waiting at a gate. */
  readonly #waiters = new Set<() => void>();

  /**
   * Sends through `send` once `channel` may be published on: at once
   * (`undefined` returned by the gate) or after `subscribing` and the
   * earlier waiting publishes; `check` runs again after the wait.
   */
  run(channel: string, subscribing: Promise<void> | undefined, check: () => void, send: () => Promise<void>): Promise<void> {
    const tail = this.#tails.get(channel);
    if (tail === undefined && subscribing === undefined) return send();
    const gate = new Promise<void>((resolve) => {
      const release = () => {
        this.#waiters.delete(release);
        resolve();
      };
      this.#waiters.add(release);
      void Promise.all([tail, subscribing]).then(release);
    });
    const sent = gate.then(() => {
      check();
      return send();
    });
    const settled = sent.then(
      () => {},
      () => {},
    );
    this.#tails.set(channel, settled);
    void settled.then(() => {
      if (this.#tails.get(channel) === settled) this.#tails.delete(channel);
    });
    return sent;
  }

  /** The broker connection was lost: every waiting publish stops waiting (its `check` then decides). */
  releaseAll(): void {
    for (const release of [...this.#waiters]) release();
  }
}
