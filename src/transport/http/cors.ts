/**
 * CORS for the origins `allowedOrigins` lets in: a browser app on another
 * origin reads the answers (and, with `withCredentials`, sends its cookies)
 * only when the server says so. Same-origin requests and requests without
 * `Origin` get no CORS headers; with `'*'` any origin may read, but without
 * credentials (a cookie session must not be readable by every site).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AllowedOrigins } from '../ws/options.js';
import { sameOrigin } from '../ws/upgrade-guard.js';

/** How long a browser may cache a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * Sets the CORS headers of `req` (whose origin the server allowed) on
 * `res` when it is a cross-origin request, and says whether it did (tRPC
 * then has to keep `Origin` in its own `Vary`, see {@link VARY_ORIGIN}).
 */
export function setCorsHeaders(req: IncomingMessage, res: ServerResponse, allowed: AllowedOrigins): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || sameOrigin(origin, req.headers.host)) return false;
  res.setHeader('vary', 'Origin');
  if (allowed === '*') {
    res.setHeader('access-control-allow-origin', '*');
    return true;
  }
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-allow-credentials', 'true');
  return true;
}

/**
 * tRPC's `responseMeta` for a cross-origin request: tRPC writes its own
 * `Vary` (`trpc-accept, accept`) over the one set before; this appends
 * `Origin` to it, so a cache never gives one origin's answer to another.
 */
export const VARY_ORIGIN = (): { headers: Headers } => ({ headers: new Headers([['vary', 'Origin']]) });

/** Whether `req` is a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`). */
export function isPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
}

/** Answers a preflight the server allowed: `GET` and `POST`, with the headers the browser asked for. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('access-control-allow-methods', 'GET, POST');
  const headers = req.headers['access-control-request-headers'];
  if (headers !== undefined) res.setHeader('access-control-allow-headers', headers);
  res.setHeader('access-control-max-age', String(PREFLIGHT_MAX_AGE_S));
  res.writeHead(204).end();
}
