/**
 * A topic subscription served on the WebSocket fast path: the core's
 * {@link Subscription} lifecycle, turned into shared pre-built frames for
 * one connection (one small object per subscription, no closures).
 * @module
 */
import type { TRPCError } from '@trpc/server';
import type { GapSignal } from '../../../client/protocol.js';
import type { EncodedEvent } from '../../core/encoded-event.js';
import { Subscription, type SubscriptionOrigin } from '../../core/subscription.js';
import type { SubscriptionRequest } from '../../core/subscription-request.js';
import type { FramePool, FramePrefix } from './frame-pool.js';
import type { RequestId } from './subscription-table.js';

/** What a {@link TopicSink} needs from its connection. */
export interface SinkConnection {
  readonly framePool: FramePool;
  /** The context `createContext` made. */
  readonly ctx: unknown;
  /** Writes a complete frame, applying the slow-consumer policy. */
  sendFrame(frame: Buffer): void;
  /** Sends a tRPC message that is not a shared frame (a gap, an error). */
  sendResult(id: RequestId, jsonrpc: '2.0' | undefined, result: { type: 'data'; id: string; data: unknown }): void;
  /** Answers operation `id` with `error` and forgets the subscription. */
  failSubscription(sink: TopicSink, error: TRPCError): void;
}

/** A topic subscription of one connection (see the module comment). */
export class TopicSink extends Subscription {
  /** `undefined` once closed. */
  #prefix: FramePrefix | undefined;

  constructor(
    private readonly connection: SinkConnection,
    /** The tRPC operation id. */
    readonly id: RequestId,
    jsonrpc: '2.0' | undefined,
    request: SubscriptionRequest,
  ) {
    super(request.core, request.scope, request.allowed);
    this.#prefix = connection.framePool.acquire(id, jsonrpc);
  }

  get origin(): SubscriptionOrigin {
    return 'websocket';
  }

  /** The connection's context (what `createContext` made). */
  get ctx(): unknown {
    return this.connection.ctx;
  }

  /** Whether the request had `"jsonrpc":"2.0"`. */
  get jsonrpc(): '2.0' | undefined {
    return this.#prefix?.jsonrpc;
  }

  /** {@link Subscription.open}; on failure gives the frame prefix back and throws. */
  override open(lastEventId?: string, last?: number): Promise<void> | undefined {
    try {
      return super.open(lastEventId, last);
    } catch (error) {
      this.#release();
      throw error;
    }
  }

  /** Leaves the index and gives the frame prefix back; safe to call twice. */
  stop(): void {
    this.close();
    this.#release();
  }

  protected onLive(): void {
    if (this.#prefix !== undefined) this.connection.sendFrame(this.#prefix.started);
  }

  protected onEvent(encoded: EncodedEvent): void {
    if (this.#prefix === undefined) return;
    if (!this.tracksCursor) {
      this.connection.sendFrame(this.connection.framePool.frame(this.#prefix, encoded));
      return;
    }
    // An all-topics cursor is this subscription's own: no shared frame; the event's id travels in its data (PROTOCOL.md §4).
    const id = this.trackedId(encoded);
    this.connection.sendResult(this.id, this.jsonrpc, { type: 'data', id, data: { id, data: { ...encoded.wire, id: encoded.event.id } } });
  }

  protected onGap(gap: GapSignal, cursor: string): void {
    this.connection.sendResult(this.id, this.jsonrpc, { type: 'data', id: cursor, data: { id: cursor, data: gap } });
  }

  protected onFail(error: TRPCError): void {
    this.connection.failSubscription(this, error);
    this.#release();
  }

  #release(): void {
    if (this.#prefix !== undefined) this.connection.framePool.release(this.#prefix);
    this.#prefix = undefined;
  }
}
