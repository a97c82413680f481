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
   * subscribers. One slot: a second owner replaces the first.
   */
  memo<T>(owner: object, make: (event: EncodedEvent) => T): T {
    if (this.#memoOwner !== owner) {
      this.#memo = make(this);
      this.#memoOwner = owner;
    }
    return this.#memo as T;
  }
}
