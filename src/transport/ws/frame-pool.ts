import type { TRPCCombinedDataTransformer } from '@trpc/server';
import type { EncodedEvent } from '../../core/encoded-event.js';
import { textFrame } from './ws-frame.js';

/**
 * The part of a data frame that depends on the subscription
 * (`{"id":<op>,"result":{"type":"data",`), shared by every subscription
 * with the same operation id, plus the last frame built with it. tRPC
 * clients number operations from 1 on each connection, so thousands of
 * subscribers usually share a handful of prefixes, and an event is turned
 * into bytes once per prefix instead of once per subscriber.
 */
export interface FramePrefix {
  readonly text: string;
  /** Whether the operation's request had `"jsonrpc":"2.0"` (echoed in every answer). */
  readonly jsonrpc: '2.0' | undefined;
  /** The complete `{"id":<op>,"result":{"type":"started"}}` frame of the same operation id, ready to write. */
  readonly started: Buffer;
  /** The event {@link frame} was built for. */
  stamp: EncodedEvent | undefined;
  /** The last complete WebSocket frame (header and UTF-8 JSON), ready to write to a socket. */
  frame: Buffer;
  refs: number;
}

const EMPTY = Buffer.alloc(0);

/** Interns {@link FramePrefix}es and builds frames through them. */
export class FramePool {
  readonly #prefixes = new Map<string, FramePrefix>();
  /**
   * The tail of a tRPC result message for an event, after
   * `{"id":<op>,"result":{"type":"data",`: the tracked id and the
   * (transformed) data, closed. Serialized once per event, kept on it.
   */
  readonly #resultTail = (encoded: EncodedEvent): string => {
    const data: unknown = this.transformer.output.serialize({ id: encoded.event.id, data: encoded.wire });
    return `"id":${JSON.stringify(encoded.event.id)},"data":${JSON.stringify(data)}}}`;
  };

  constructor(private readonly transformer: TRPCCombinedDataTransformer) {}

  /** Number of distinct prefixes alive. */
  get size(): number {
    return this.#prefixes.size;
  }

  /** The shared prefix for operation `id` (with `jsonrpc` when the request had it). Release it when done. */
  acquire(id: string | number, jsonrpc: '2.0' | undefined): FramePrefix {
    // Byte for byte what tRPC's adapter sends (`JSON.stringify` of `{ id, jsonrpc, result }`).
    const head = `{"id":${JSON.stringify(id)},${jsonrpc === undefined ? '' : '"jsonrpc":"2.0",'}"result":{"type":`;
    const text = `${head}"data",`;
    let prefix = this.#prefixes.get(text);
    if (prefix === undefined) {
      prefix = { text, jsonrpc, started: textFrame(`${head}"started"}}`), stamp: undefined, frame: EMPTY, refs: 0 };
      this.#prefixes.set(text, prefix);
    }
    prefix.refs++;
    return prefix;
  }

  /** Gives back a prefix from {@link acquire}. */
  release(prefix: FramePrefix): void {
    if (--prefix.refs === 0) this.#prefixes.delete(prefix.text);
  }

  /** The frame for `encoded` through `prefix`, built on first use for this event. */
  frame(prefix: FramePrefix, encoded: EncodedEvent): Buffer {
    if (prefix.stamp !== encoded) {
      prefix.frame = textFrame(prefix.text + encoded.memo(this, this.#resultTail));
      prefix.stamp = encoded;
    }
    return prefix.frame;
  }
}
