/**
 * One published event as it crosses the fan-out path, with the forms
 * transports serialize it to, computed at most once per event and shared
 * by every subscriber that receives it.
 * @module
 */
import type { PubSubEvent, WireEvent } from '../../client/protocol.js';

/** One published event plus its serialized forms. */
export class EncodedEvent {
  #wire: WireEvent | undefined;
  #memoOwner: object | undefined;
  #memo: unknown;
  #memoOwner2: object | undefined;
  #memo2: unknown;

  constructor(
    /** The event as server code sees it. */
    readonly event: PubSubEvent,
  ) {}

  /** The event without its id, as it travels inside the tracked envelope. */
  get wire(): WireEvent {
    if (this.#wire === undefined) {
      const { id: _id, ...wire } = this.event;
      this.#wire = wire;
    }
    return this.#wire;
  }

  /**
   * A transport's serialized form of this event, made by `make` the first
   * time `owner` (a transport's encoder) asks and kept for the next
   * subscribers. Two slots (WebSocket frames and SSE frames of one event
   * both stay); a third owner replaces the older.
   */
  memo<T>(owner: object, make: (event: EncodedEvent) => T): T {
    if (this.#memoOwner === owner) return this.#memo as T;
    if (this.#memoOwner2 === owner) return this.#memo2 as T;
    const made = make(this);
    this.#memoOwner2 = this.#memoOwner;
    this.#memo2 = this.#memo;
    this.#memoOwner = owner;
    this.#memo = made;
    return made;
  }
}
