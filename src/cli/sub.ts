/**
 * `trpc-pubsub sub <url> [topic]`: subscribes and prints every event as one
 * JSON line on stdout, gap signals too (`"kind":"gap"`), until SIGINT or
 * SIGTERM.
 * @module
 */
import type { ClientSubscription } from 'trpc-pubsub/client';
import type { GapSignal, PubSubEvent } from '../../client/protocol.js';
import { usageError, type CliError } from './exit-codes.js';
import { channelKeyOf } from './channel-key.js';
import { connect } from './connect.js';
import { eventLine, gapLine, note, writeLine } from './output.js';
import { fromServerError } from './server-errors.js';
import { parseServerUrl } from './server-url.js';
import { shutdownSignal } from './signals.js';

/** Options of {@link runSub}, as `main.ts` parsed them. */
export interface SubOptions {
  /** One key's channel (keyed topics); every key when omitted. */
  key?: string;
  /** Start with the newest N events of the history (1-1000). */
  fromLast?: number;
  /** Every topic (`allTopics`) instead of one. */
  all?: boolean;
  /** Resume after this event id (the server replays what it keeps after it, or says there is a gap). */
  after?: string;
  /** First-connection timeout, in milliseconds. */
  timeoutMs: number;
  /** `connectionParams`. */
  params?: Record<string, string>;
}

/**
 * Runs `sub`; resolves once a signal stopped it and the client closed.
 * @throws CliError on bad input (exit 2), an unknown topic (3), a refused
 *   key or option (4), a refusal by the server (5), any other failure (1).
 */
export async function runSub(rawUrl: string, topic: string | undefined, options: SubOptions): Promise<void> {
  const url = parseServerUrl(rawUrl);
  if (options.all === true && topic !== undefined) throw usageError(`sub: give a topic or --all, not both`);
  if (options.all !== true && topic === undefined) throw usageError(`sub: missing topic (or --all for every topic)`);
  if (options.all === true && options.key !== undefined) throw usageError(`sub: --key needs a topic, not --all`);

  let fail!: (error: CliError) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const client = await connect(url, {
    timeoutMs: options.timeoutMs,
    params: options.params,
    reportReconnects: true,
    onSubscriptionError: (error) => void fromServerError(error, url, topic).then(fail),
  });
  const stopped = shutdownSignal();
  let subscription: ClientSubscription | undefined;
  try {
    const onGap = (gap: GapSignal) => writeLine(gapLine(gap, topic));
    const print = (event: PubSubEvent) => writeLine(eventLine(event));
    const start = { last: options.fromLast, lastEventId: options.after, onGap };
    if (topic === undefined) {
      subscription = client.subscribeAll(print, start);
    } else {
      const key = await channelKeyOf(options.key, url, topic);
      subscription = client.subscribe(topic, key === undefined ? start : { ...start, key }, print);
    }
    subscription.started.then(
      () => note(`subscribed to ${describe(topic, options.key)} on ${url.href}`),
      () => undefined, // reported through onSubscriptionError
    );
    await Promise.race([stopped, failed]);
  } finally {
    subscription?.unsubscribe();
    await client.close();
  }
}

function describe(topic: string | undefined, key: string | undefined): string {
  if (topic === undefined) return 'every topic';
  return key === undefined ? topic : `${topic} key ${JSON.stringify(key)}`;
}
