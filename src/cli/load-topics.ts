/**
 * Loads the topics module `serve` was given: a file that exports `topics`
 * (or a default export) made with `defineTopics`, loaded with `import()`.
 * @module
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TopicRecord } from '../core/topics.js';
import { usageError } from './exit-codes.js';

/**
 * The topics `path` (relative to the working directory) exports.
 * @throws CliError (exit 2) when the file is missing, does not load, or
 *   exports nothing that looks like `defineTopics`' result.
 */
export async function loadTopics(path: string): Promise<TopicRecord> {
  const file = resolve(path);
  if (!existsSync(file)) throw usageError(`topics module ${path} not found (looked for ${file})`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const hint =
      code === 'ERR_UNKNOWN_FILE_EXTENSION' ? ` (a TypeScript module needs a loader: NODE_OPTIONS='--import tsx' trpc-pubsub serve ${path})` : '';
    throw usageError(`cannot load topics module ${path}: ${firstLine(error)}${hint}`, error);
  }
  const topics = module['topics'] ?? module['default'];
  if (!isTopicRecord(topics)) {
    throw usageError(`topics module ${path} exports no topics: export \`topics\` (or a default export) made with defineTopics({ … })`);
  }
  return topics;
}

/** Whether `value` is a non-empty record of what `topic()` returns. */
function isTopicRecord(value: unknown): value is TopicRecord {
  if (typeof value !== 'object' || value === null) return false;
  const entries = Object.values(value);
  return (
    entries.length > 0 &&
    entries.every((entry) => typeof entry === 'object' && entry !== null && 'payload' in entry && 'key' in entry && 'history' in entry)
  );
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
