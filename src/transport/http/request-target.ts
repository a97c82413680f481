/**
 * What the HTTP transport reads from a request before tRPC does: whether
 * it is for `path`, which procedure path(s) it calls, how many calls, and
 * whether it opens an SSE stream (a subscription), which counts as a
 * connection.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { AnyTRPCRouter } from '@trpc/server';
import { pathOf } from '../ws/http.js';

/** A request on the transport's path (see the module comment). */
export interface RequestTarget {
  /** What follows `path/` in the URL, as tRPC reads it: `chat.events`, `a,b` in a batch, `''` for `path` itself. */
  procedurePath: string;
  /** Whether it is a batch (`?batch=1`), whose answer is an array. */
  batch: boolean;
  /** Calls it makes: the paths of a batch, else 1. */
  calls: number;
  /** Whether it opens an SSE stream: one subscription call, or an `Accept: text/event-stream` request. */
  stream: boolean;
  /** Not a batch: the router's procedure at the (decoded) path, and that path; `undefined` when there is none (or a lazy router not loaded yet). */
  call: { path: string; procedure: unknown } | undefined;
}

/** The procedures of a router by dotted path, as tRPC v11 keeps them (`router._def.procedures`). */
type ProcedureRecord = Record<string, { _def?: { type?: unknown } } | undefined>;

/** The target of `req` when its URL is `base` or under `base/`; `undefined` for other paths. */
export function targetOf(req: IncomingMessage, base: string, router: AnyTRPCRouter): RequestTarget | undefined {
  const path = pathOf(req);
  const prefix = base.endsWith('/') ? base : `${base}/`;
  let procedurePath: string;
  if (path === base) procedurePath = '';
  else if (path.startsWith(prefix)) procedurePath = path.slice(prefix.length);
  else return undefined;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  const batch = query !== -1 && new URLSearchParams(url.slice(query + 1)).get('batch') === '1';
  if (batch) return { procedurePath, batch, calls: procedurePath.split(',').length, stream: false, call: undefined };
  const accept = req.headers.accept ?? '';
  const call = procedureAt(router, procedurePath);
  const subscription = (call?.procedure as { _def?: { type?: unknown } } | undefined)?._def?.type === 'subscription';
  return { procedurePath, batch, calls: 1, stream: accept.includes('text/event-stream') || subscription, call };
}

/** The router's procedure at `path` (URL-encoded), with the decoded path; `undefined` when there is none. */
function procedureAt(router: AnyTRPCRouter, path: string): RequestTarget['call'] {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  const procedures = router._def.procedures as ProcedureRecord;
  return Object.hasOwn(procedures, decoded) && procedures[decoded] !== undefined ? { path: decoded, procedure: procedures[decoded] } : undefined;
}
