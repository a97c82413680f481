/**
 * `trpc-pubsub pub <url> <topic> [json]`: publishes one event through the
 * server and prints its id.
 * @module
 */
import { channelKeyOf } from './channel-key.js';
import { connect } from './connect.js';
import { parseJsonArgument } from './json-argument.js';
import { writeLine } from './output.js';
import { fromServerError } from './server-errors.js';
import { parseServerUrl } from './server-url.js';

/** Options of {@link runPub}, as `main.ts` parsed them. */
export interface PubOptions {
  /** The channel key (keyed topics). */
  key?: string;
  /** First-connection timeout, in milliseconds. */
  timeoutMs: number;
  /** `connectionParams`. */
  params?: Record<string, string>;
}

/**
 * Runs `pub`: `json` is the payload (omit it for a payload-less topic).
 * @throws CliError on bad input or invalid JSON (exit 2), an unknown
 *   topic (3), a refused payload or key (4), a refusal by the server (5),
 *   any other failure (1).
 */
export async function runPub(rawUrl: string, topic: string, json: string | undefined, options: PubOptions): Promise<void> {
  const url = parseServerUrl(rawUrl);
  const payload = json === undefined ? undefined : parseJsonArgument(json, 'argument 3 <json>');
  const client = await connect(url, { timeoutMs: options.timeoutMs, params: options.params });
  try {
    const key = await channelKeyOf(options.key, url, topic);
    let id: string;
    try {
      ({ id } = await client.publish(topic, payload, key === undefined ? undefined : { key }));
    } catch (error) {
      throw await fromServerError(error, url, topic);
    }
    writeLine(id);
  } finally {
    await client.close();
  }
}
