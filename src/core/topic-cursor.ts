/**
 * The cursor of an all-topics subscription. Brokers order each topic's
 * events on their own (a Redis Cluster keeps topics on different masters;
 * PostgreSQL counts per topic), so one event id cannot say where such a
 * subscription stands. Its tracked id is instead a cursor holding, for
 * every topic that keeps history, the id of the last event it delivered
 * (or the history's head when it started): `t.` then `<topic>-<id>` pairs
 * joined by `.`, e.g. `t.chat-k3Jq9x:41.feed-P0aZ2b:7` (PROTOCOL §4).
 * Topic names hold no `-` and engine ids (`<epoch>:<position>`) no `.`,
 * so it parses back unambiguously, inside the tracked id alphabet.
 * @module
 */

/** What every all-topics cursor starts with (a single event id never holds a `.`). */
export const TOPIC_CURSOR_PREFIX = 't.';

/** Longest all-topics cursor accepted as `lastEventId`. */
export const MAX_TOPIC_CURSOR_LENGTH = 8192;

/** The cursor of `positions` (topic → last id), topics in name order. */
export function formatTopicCursor(positions: ReadonlyMap<string, string>): string {
  const pairs: string[] = [];
  for (const topic of [...positions.keys()].sort()) pairs.push(`${topic}-${positions.get(topic)!}`);
  return TOPIC_CURSOR_PREFIX + pairs.join('.');
}

/** The positions `text` holds; `undefined` when it is not an all-topics cursor (a single event id, or malformed). */
export function parseTopicCursor(text: string): Map<string, string> | undefined {
  if (!text.startsWith(TOPIC_CURSOR_PREFIX)) return undefined;
  const positions = new Map<string, string>();
  const body = text.slice(TOPIC_CURSOR_PREFIX.length);
  if (body === '') return positions;
  for (const pair of body.split('.')) {
    const dash = pair.indexOf('-');
    if (dash <= 0 || dash === pair.length - 1) return undefined;
    positions.set(pair.slice(0, dash), pair.slice(dash + 1));
  }
  return positions;
}
