/**
 * Reads a server's topics from `GET /topics` (what `pubsub.describe()`
 * returns), for the `topics` command, the "known: …" hint of an unknown
 * topic and numeric keys.
 * @module
 */
import type { TopicDescription } from '../core/describe.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';
import { httpUrlOf, rootMessage } from './server-url.js';

export type { TopicDescription };

/**
 * The topics the server of `wsUrl` declares.
 * @throws CliError: exit 2 when the server cannot be reached, exit 1 when
 *   it does not answer `GET /topics` with a topic list.
 */
export async function fetchTopics(wsUrl: URL, timeoutMs: number): Promise<TopicDescription[]> {
  const url = httpUrlOf(wsUrl, '/topics');
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (error) {
    const reason = (error as { name?: unknown }).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : rootMessage(error);
    throw usageError(`cannot reach ${url.href}: ${reason}`, error);
  }
  const body: unknown = await response.json().catch(() => undefined);
  const topics = (body as { topics?: unknown } | undefined)?.topics;
  if (!response.ok || !Array.isArray(topics)) {
    throw new CliError(
      ExitCode.Failure,
      `${url.href} answered ${response.status} without a topic list: the server does not list its topics (trpc-pubsub before GET /topics, or an app that does not route server.handleHttp)`,
    );
  }
  return topics as TopicDescription[];
}

/** The server's topic names, or `undefined` when it does not list them (best effort, for hints). */
export async function knownTopicNames(wsUrl: URL, timeoutMs = 2000): Promise<string[] | undefined> {
  try {
    return (await fetchTopics(wsUrl, timeoutMs)).map((topic) => topic.name);
  } catch {
    return undefined;
  }
}
