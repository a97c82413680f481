/**
 * Checks what callers hand the core against the declared topics: the topic
 * name, the key (its schema, then the protocol's limits) and the payload.
 * Every refusal is a `TRPCError` (`NOT_FOUND`, `BAD_REQUEST`).
 * @module
 */
import { TRPCError } from '@trpc/server';
import * as z from 'zod/v4';
import { ALL_TOPICS, isValidChannelKey, MAX_KEY_LENGTH, type ChannelKey } from '../../client/protocol.js';
import { topicScope, type SubscriptionScope } from './scope.js';
import type { AnyTopic, HistoryPolicy, TopicRecord } from './topics.js';

/** One declared topic with the schemas the core checks against. */
export interface CheckedTopic {
  readonly name: string;
  readonly definition: AnyTopic;
  /** The key schema with the protocol's limits (1-256 characters, or a finite number); `undefined` for unkeyed topics. */
  readonly key: z.ZodType<ChannelKey> | undefined;
  readonly history: HistoryPolicy | undefined;
}

/** What a valid publish carries. */
export interface ValidPublish {
  readonly payload: unknown;
  readonly key: ChannelKey | undefined;
}

const KEY_LIMIT_MESSAGE = `a key is a string of 1-${MAX_KEY_LENGTH} characters or a finite number`;

/** The declared topics, checked once, and the validation of every call against them. */
export class TopicValidator {
  readonly #topics = new Map<string, CheckedTopic>();

  constructor(topics: TopicRecord) {
    for (const [name, definition] of Object.entries(topics)) {
      const key = definition.key?.refine((value) => isValidChannelKey(value), KEY_LIMIT_MESSAGE);
      this.#topics.set(name, { name, definition, key, history: definition.history });
    }
  }

  /** Names of the declared topics. */
  get names(): string[] {
    return [...this.#topics.keys()];
  }

  /** The topic called `name`, or `undefined`. */
  find(name: string): CheckedTopic | undefined {
    return this.#topics.get(name);
  }

  /** The topic called `name`; throws `NOT_FOUND` for an unknown one. */
  topic(name: string): CheckedTopic {
    const topic = this.#topics.get(name);
    if (topic === undefined) throw new TRPCError({ code: 'NOT_FOUND', message: `Unknown topic ${JSON.stringify(name)}` });
    return topic;
  }

  /** The scope of a subscription to `topic` (`undefined` or `allTopics`: every topic) with an unchecked `key`. */
  scopeOf(topic: string | undefined, key: unknown): SubscriptionScope {
    if (topic === undefined || topic === ALL_TOPICS) return { kind: 'all' };
    const checked = this.topic(topic);
    if (checked.key === undefined && key !== undefined) throw badRequest(`Topic "${topic}" has no key`);
    const validKey = key === undefined ? undefined : this.#key(checked, key);
    return topicScope(topic, checked.key !== undefined, validKey);
  }

  /** Checks a publish of `payload` (and `key`) on `topic`; returns the parsed values. */
  publish(topic: string, payload: unknown, key: unknown): ValidPublish {
    const checked = this.topic(topic);
    let validKey: ChannelKey | undefined;
    if (checked.key === undefined) {
      if (key !== undefined) throw badRequest(`Topic "${topic}" has no key`);
    } else {
      if (key === undefined) throw badRequest(`Topic "${topic}" needs a key`);
      validKey = this.#key(checked, key);
    }
    const schema = checked.definition.payload;
    if (schema === undefined) {
      if (payload !== undefined) throw badRequest(`Topic "${topic}" takes no payload`);
      return { payload: undefined, key: validKey };
    }
    const parsed = schema.safeParse(payload);
    if (!parsed.success) throw badRequest(`Invalid payload for topic "${topic}": ${z.prettifyError(parsed.error)}`, parsed.error);
    return { payload: parsed.data, key: validKey };
  }

  #key(topic: CheckedTopic, key: unknown): ChannelKey {
    const parsed = topic.key!.safeParse(key);
    if (!parsed.success) throw badRequest(`Invalid key for topic "${topic.name}": ${z.prettifyError(parsed.error)}`, parsed.error);
    return parsed.data;
  }
}

/** A `BAD_REQUEST` with `message`. */
export function badRequest(message: string, cause?: unknown): TRPCError {
  return new TRPCError({ code: 'BAD_REQUEST', message, cause });
}
