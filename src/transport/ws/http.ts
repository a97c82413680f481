/**
 * The HTTP side of the WebSocket transport: request paths, the answer to
 * an upgrade nobody serves, and one-line listen errors.
 * @module
 */
import type { IncomingMessage } from 'node:http';

/** The path of `req`'s URL, without the query. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The answer to an upgrade on a path nobody serves. */
export const NOT_FOUND_RESPONSE = 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n';

/** `host` as it goes before `:port` in a URL (IPv6 literals in brackets). */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A one-line error for a port that cannot be bound, keeping Node's `code` and the original error as `cause`. */
export function listenError(error: unknown, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'EADDRINUSE' ? 'is already in use' : code === 'EACCES' ? 'needs more privileges' : `cannot be bound (${String(error)})`;
  return Object.assign(new Error(`listen(): ${hostForUrl(host)}:${port} ${reason}`, { cause: error }), { code });
}
