/**
 * The server URL every client command takes: checked once (ws:// or
 * wss:// only), and the HTTP origin beside it (where `GET /topics` answers).
 * @module
 */
import { usageError } from './exit-codes.js';

/**
 * Parses `raw` as a trpc-pubsub server URL.
 * @throws CliError (exit 2) when it is not a `ws://` or `wss://` URL.
 */
export function parseServerUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`bad URL ${JSON.stringify(raw)}: expected ws://host:port/path or wss://…`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw usageError(`bad URL ${JSON.stringify(raw)}: expected a ws:// or wss:// URL, got ${url.protocol}//`);
  }
  return url;
}

/** The HTTP(S) URL of `path` on the server of `wsUrl` (`ws://h:p/trpc` → `http://h:p/topics`). */
export function httpUrlOf(wsUrl: URL, path: string): URL {
  return new URL(path, `${wsUrl.protocol === 'wss:' ? 'https:' : 'http:'}//${wsUrl.host}`);
}

/** The message of `error`'s innermost cause (`fetch failed` → `connect ECONNREFUSED 127.0.0.1:1`). */
export function rootMessage(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (current as { cause?: unknown } | null | undefined)?.cause;
    if (cause === undefined || cause === null) break;
    current = cause;
  }
  if (current instanceof Error) return current.message;
  const message = (current as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' && message !== '' ? message : String(current);
}
