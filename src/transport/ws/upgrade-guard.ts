/**
 * What an upgrade (or, with `sse`, an HTTP request) must pass before it
 * becomes a connection: the origin allow-list (against cross-site
 * WebSocket hijacking), the total and per-IP connection caps shared by
 * WebSockets and SSE streams, and the answers for those refused.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { AllowedOrigins } from './options.js';

/** An HTTP answer written on the raw upgrade socket before it is closed. */
function refusal(status: string, extra = ''): string {
  const body = `${status.slice(4).toLowerCase()}\n`;
  return `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;
}

/** Upgrade refused: the server is shutting down, or holds `maxConnections`. */
export const UNAVAILABLE_RESPONSE = refusal('503 Service Unavailable', 'Retry-After: 1\r\n');
/** Upgrade refused: the client IP holds `maxConnectionsPerIp`. */
export const TOO_MANY_RESPONSE = refusal('429 Too Many Requests', 'Retry-After: 1\r\n');
/** Upgrade refused: its `Origin` is not allowed. */
export const FORBIDDEN_RESPONSE = refusal('403 Forbidden');

/**
 * The client's IP: the socket's peer, or, when `trustProxy` says so, an
 * address of `X-Forwarded-For` (`true`: the left-most; `n`: the one `n`
 * hops before the peer, so `1` is what a single trusted proxy added).
 */
export function clientIpOf(req: IncomingMessage, trustProxy: boolean | number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  if (trustProxy === false || trustProxy === 0) return peer;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address !== '');
  if (forwarded.length === 0) return peer;
  if (trustProxy === true) return forwarded[0]!;
  const hops = [...forwarded, peer];
  return hops[Math.max(0, hops.length - 1 - trustProxy)]!;
}

/** Whether `req` may connect under `allowed` (requests without `Origin`, which only browsers send, always may). */
export function originAllowed(req: IncomingMessage, allowed: AllowedOrigins): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || allowed === '*') return true;
  if (typeof allowed === 'function') return allowed(origin, req);
  if (allowed === 'same-origin') return sameOrigin(origin, req.headers.host);
  return allowed.some((entry) => (typeof entry === 'string' ? entry === origin : entry.test(origin)));
}

/** Whether `origin` (an `Origin` header) names the host the request was sent to (its `Host`). */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/** Open connections per client IP (see `maxConnectionsPerIp`). */
export class ConnectionsPerIp {
  readonly #counts = new Map<string, number>();

  /** Open connections from `ip`. */
  count(ip: string): number {
    return this.#counts.get(ip) ?? 0;
  }

  /** A connection from `ip` opened. */
  add(ip: string): void {
    this.#counts.set(ip, this.count(ip) + 1);
  }

  /** A connection from `ip` closed. */
  remove(ip: string): void {
    const left = this.count(ip) - 1;
    if (left > 0) this.#counts.set(ip, left);
    else this.#counts.delete(ip);
  }

  /** Distinct IPs with open connections. */
  get size(): number {
    return this.#counts.size;
  }
}

/** Why a request was refused before it became a connection (each has its `refused` counter). */
export type Refusal = 'closing' | 'origin' | 'maxConnections' | 'maxConnectionsPerIp';

/**
 * The open connections the caps count, WebSockets and SSE streams alike:
 * `maxConnections` in all, `maxConnectionsPerIp` per client IP.
 */
export class ConnectionSlots {
  readonly #perIp = new ConnectionsPerIp();
  #open = 0;

  constructor(
    /** Most open connections. */
    readonly maxConnections: number,
    /** Most open connections from one client IP. */
    readonly maxConnectionsPerIp: number,
  ) {}

  /** Open connections (WebSockets and SSE streams). */
  get open(): number {
    return this.#open;
  }

  /** Which cap one more connection from `ip` would pass, or `undefined` when it fits. */
  refusalOf(ip: string): 'maxConnections' | 'maxConnectionsPerIp' | undefined {
    if (this.#open >= this.maxConnections) return 'maxConnections';
    if (this.#perIp.count(ip) >= this.maxConnectionsPerIp) return 'maxConnectionsPerIp';
    return undefined;
  }

  /** A connection from `ip` opened. */
  add(ip: string): void {
    this.#open++;
    this.#perIp.add(ip);
  }

  /** A connection from `ip` closed. */
  remove(ip: string): void {
    this.#open--;
    this.#perIp.remove(ip);
  }
}
