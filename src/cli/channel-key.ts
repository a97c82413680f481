/**
 * The `--key` option as the topic wants it: keys are strings or numbers,
 * and a command line has only strings, so a numeric-looking key is sent as
 * a number when the server says the topic's key schema takes numbers only.
 * @module
 */
import type { ChannelKey } from '../../client/protocol.js';
import { fetchTopics, type TopicDescription } from './remote-topics.js';

const NUMERIC = /^-?(?:0|[1-9]\d*)(?:\.\d+)?$/;

/**
 * `raw` as the key of `topic` on the server of `wsUrl`: a number when it
 * looks like one and the topic's key schema is `number` or `integer`
 * (asked through `GET /topics`), else the string itself.
 */
export async function channelKeyOf(raw: string | undefined, wsUrl: URL, topic: string): Promise<ChannelKey | undefined> {
  if (raw === undefined || !NUMERIC.test(raw)) return raw;
  let topics: TopicDescription[];
  try {
    topics = await fetchTopics(wsUrl, 2000);
  } catch {
    return raw; // the server does not say: send it as written
  }
  const schema = topics.find((described) => described.name === topic)?.keySchema;
  return schema !== null && schema !== undefined && takesNumbersOnly(schema) ? Number(raw) : raw;
}

function takesNumbersOnly(schema: Record<string, unknown>): boolean {
  const types = ([] as unknown[]).concat(schema['type'] ?? []);
  return types.length > 0 && types.every((type) => type === 'number' || type === 'integer');
}
