/**
 * `trpc-pubsub topics <url>`: lists the server's topics (`GET /topics`) as
 * a table, or as JSON with `--json`.
 * @module
 */
import type { HistoryPolicy } from '../engine/engine.js';
import { writeLine } from './output.js';
import { fetchTopics, type TopicDescription } from './remote-topics.js';
import { schemaText } from './schema-text.js';
import { parseServerUrl } from './server-url.js';

/** Options of {@link runTopics}, as `main.ts` parsed them. */
export interface TopicsOptions {
  /** Print `{ "topics": [...] }` (each with its JSON Schemas) instead of the table. */
  json?: boolean;
  /** How long the server may take to answer, in milliseconds. */
  timeoutMs: number;
}

/**
 * Runs `topics`.
 * @throws CliError: exit 2 for a bad or unreachable URL, 1 when the server does not list its topics.
 */
export async function runTopics(rawUrl: string, options: TopicsOptions): Promise<void> {
  const topics = await fetchTopics(parseServerUrl(rawUrl), options.timeoutMs);
  if (options.json === true) writeLine(JSON.stringify({ topics }, null, 2));
  else for (const line of topicsTable(topics)) writeLine(line);
}

/** The table `topics` prints: one header line, then one line per topic (a PRESENCE column when some topic has presence). */
export function topicsTable(topics: TopicDescription[]): string[] {
  const presence = topics.some((topic) => topic.presenceSchema != null);
  const rows = [
    ['TOPIC', 'KEY', 'HISTORY', ...(presence ? ['PRESENCE'] : []), 'PAYLOAD'],
    ...topics.map((topic) => [
      topic.name,
      topic.keySchema === null ? '-' : schemaText(topic.keySchema),
      historyText(topic.history),
      ...(presence ? [topic.presenceSchema == null ? '-' : schemaText(topic.presenceSchema)] : []),
      topic.payloadSchema === null ? '(none)' : schemaText(topic.payloadSchema),
    ]),
  ];
  const last = rows[0]!.length - 1;
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column < last ? cell.padEnd(widths[column]!) : cell)).join('  '));
}

function historyText(history: HistoryPolicy | null): string {
  if (history === null) return '-';
  const events = `${history.maxEvents} events`;
  return history.maxAgeMs === undefined ? events : `${events}, ${history.maxAgeMs / 1000} s`;
}
