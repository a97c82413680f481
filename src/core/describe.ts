/**
 * What a server tells about its topics (`pubsub.describe()`, `GET /topics`):
 * names, keys, history policies and the schemas as JSON Schema, so tools
 * (the `trpc-pubsub topics` command) can list them without the app's types.
 * @module
 */
import * as z from 'zod/v4';
import type { HistoryPolicy } from '../engine/engine.js';
import type { TopicValidator } from './validate.js';

/** A JSON Schema document (draft 2020-12), as zod's `z.toJSONSchema` writes it, without `$schema`. */
export type JsonSchema = Record<string, unknown>;

/** One topic as {@link describeTopics} reports it. */
export interface TopicDescription {
  /** The topic's name. */
  name: string;
  /** Whether it has one channel per key. */
  keyed: boolean;
  /** Its history policy, `null` when it keeps none. */
  history: HistoryPolicy | null;
  /** The declaration's free text, `null` when none. */
  description: string | null;
  /** What publishers send as the payload (the schema's input side), `null` for a payload-less topic. */
  payloadSchema: JsonSchema | null;
  /** What a key must be, `null` for an unkeyed topic. */
  keySchema: JsonSchema | null;
  /** The info of its presence members (the output side: what watchers receive), `null` when the topic has no presence. */
  presenceSchema: JsonSchema | null;
}

/**
 * Describes every declared topic, in declaration order. Parts of a schema
 * JSON Schema cannot express (transforms, dates, bigints, custom checks)
 * become `{}` (anything): the server still validates them.
 */
export function describeTopics(topics: TopicValidator): TopicDescription[] {
  return topics.names.map((name) => {
    const { definition } = topics.topic(name);
    return {
      name,
      keyed: definition.key !== undefined,
      history: definition.history === undefined ? null : { ...definition.history },
      description: definition.description ?? null,
      payloadSchema: definition.payload === undefined ? null : jsonSchemaOf(definition.payload),
      keySchema: definition.key === undefined ? null : jsonSchemaOf(definition.key),
      presenceSchema: definition.presence === undefined ? null : jsonSchemaOf(definition.presence.info, 'output'),
    };
  });
}

/** `schema` as JSON Schema (its input side unless told), `{}` when zod cannot convert it. */
function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema {
  try {
    const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
    return rest;
  } catch {
    return {};
  }
}
