import type { TRPCCombinedDataTransformer } from '@trpc/server';
import type { PubSubEvent, WireEvent } from '../client/protocol.js';

/**
 * One published event plus its serialized forms, computed at most once per
 * event and shared by every subscriber that receives it.
 */
export class EncodedEvent {
  #wire: WireEvent | undefined;
  #transformer: TRPCCombinedDataTransformer | undefined;
  #resultTail: string | undefined;

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
   * The tail of a tRPC result message for this event, after
   * `{"id":<op>,"result":{"type":"data",`: the tracked id and the
   * (transformed) data, closed. Serialized once per transformer.
   */
  resultTail(transformer: TRPCCombinedDataTransformer): string {
    if (this.#resultTail === undefined || this.#transformer !== transformer) {
      const data: unknown = transformer.output.serialize({ id: this.event.id, data: this.wire });
      this.#resultTail = `"id":${JSON.stringify(this.event.id)},"data":${JSON.stringify(data)}}}`;
      this.#transformer = transformer;
    }
    return this.#resultTail;
  }
}
