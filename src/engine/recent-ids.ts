/**
 * The last `capacity` event ids seen, to recognise an event a broker hands
 * back twice (a resubscription racing a failover, an engine that echoes).
 * Constant memory, O(1) per id.
 */
export class RecentIds {
  readonly #ids = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(readonly capacity = 4096) {
    this.#ring = new Array<string | undefined>(capacity);
  }

  /** Records `id`; returns false when it was already among the recent ones. */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#ids.delete(evicted);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.capacity;
    this.#ids.add(id);
    return true;
  }

  /** Forgets every id. */
  clear(): void {
    this.#ids.clear();
    this.#ring.fill(undefined);
    this.#next = 0;
  }
}
