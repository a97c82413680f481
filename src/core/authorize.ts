/**
 * Runs the application's `authorize` hook: one call per subscribe or
 * publish of a tRPC caller, one per declared topic for an all-topics
 * subscription. Refusals are `TRPCError`s (`FORBIDDEN`, or the hook's own).
 * @module
 */
import { TRPCError } from '@trpc/server';
import type { ChannelKey } from '../../client/protocol.js';
import type { Logger } from './logger.js';
import type { AllowedTopics } from './scope.js';

/** Who asks, for what, in `PubSubOptions.authorize`. */
export interface AuthorizeRequest<TContext> {
  /** The tRPC context of the caller (after the base procedure's middleware). */
  ctx: TContext;
  /**
   * The topic. An all-topics subscription asks once per declared topic
   * (with `key: undefined`) and then receives only the allowed topics.
   */
  topic: string;
  /**
   * The key asked for; `undefined` for an unkeyed topic **or for every key
   * of a keyed topic** (a subscription without key): a per-key rule must
   * decide what `undefined` means (usually: refuse).
   */
  key: ChannelKey | undefined;
  /** What the caller wants to do. */
  action: 'subscribe' | 'publish';
  /** The validated payload, for `publish`. */
  payload?: unknown;
}

/** The `authorize` hook's type. */
export type AuthorizeHook<TContext> = (request: AuthorizeRequest<TContext>) => boolean | Promise<boolean>;

/** Asks the application's `authorize` hook (when there is one). */
export class Authorizer {
  constructor(
    private readonly hook: AuthorizeHook<unknown> | undefined,
    private readonly topics: readonly string[],
    private readonly logger: Logger,
  ) {}

  /** Resolves when `request` is allowed; throws `FORBIDDEN` (or the hook's `TRPCError`) when not. */
  async check(request: AuthorizeRequest<unknown>): Promise<void> {
    if (this.hook === undefined) return;
    let allowed: boolean;
    try {
      allowed = await this.hook(request);
    } catch (error) {
      if (error instanceof TRPCError) throw error;
      this.logger.error('authorize hook threw', { topic: request.topic, action: request.action, error: String(error) });
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Authorization failed', cause: error });
    }
    if (allowed !== true) {
      const what = request.key === undefined ? request.topic : `${request.topic} key ${JSON.stringify(request.key)}`;
      throw new TRPCError({ code: 'FORBIDDEN', message: `Not allowed to ${request.action} on ${what}` });
    }
  }

  /**
   * The topics an all-topics subscriber may see: the hook is asked once per
   * declared topic (key `undefined`: every key). `undefined` when there is
   * no hook (every topic); throws `FORBIDDEN` when none is allowed.
   */
  async allowedTopics(ctx: unknown): Promise<AllowedTopics> {
    if (this.hook === undefined) return undefined;
    const allowed = new Set<string>();
    for (const topic of this.topics) {
      try {
        await this.check({ ctx, topic, key: undefined, action: 'subscribe' });
        allowed.add(topic);
      } catch (error) {
        if (!(error instanceof TRPCError) || error.code !== 'FORBIDDEN') throw error;
      }
    }
    if (allowed.size === 0) throw new TRPCError({ code: 'FORBIDDEN', message: 'Not allowed to subscribe to any topic' });
    return allowed;
  }
}
