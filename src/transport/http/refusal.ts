/**
 * The answer to an HTTP request refused before tRPC ran it (shutting down,
 * foreign origin, connection caps, request limit): its status, an optional
 * `Retry-After`, and a tRPC error body, one per call for a batch, so
 * `httpBatchLink` and `httpLink` surface it as a typed `TRPCClientError`.
 * @module
 */
import type { ServerResponse } from 'node:http';
import { TRPCError, transformTRPCResponse, type TRPC_ERROR_CODE_KEY } from '@trpc/server';
import type { Logger } from '../../core/logger.js';
import { errorShapeOf } from '../ws/respond.js';
import type { RouterConfig } from '../ws/trpc-config.js';

/** What to refuse a request with. */
export interface HttpRefusal {
  /** HTTP status (403, 429, 503). */
  status: number;
  /** tRPC error code of the body. */
  code: TRPC_ERROR_CODE_KEY;
  message: string;
  /** Seconds for `Retry-After`, if any. */
  retryAfterS?: number;
}

/** Writes `refusal` as the response to a request for `target` (a batch: one error per call, as an array); returns the error. */
export function writeRefusal(
  res: ServerResponse,
  config: RouterConfig,
  logger: Logger,
  refusal: HttpRefusal,
  target: { procedurePath: string; batch: boolean },
): TRPCError {
  const error = new TRPCError({ code: refusal.code, message: refusal.message });
  const paths = target.batch ? target.procedurePath.split(',') : [target.procedurePath];
  const bodies = paths.map((path) =>
    transformTRPCResponse(config, { error: errorShapeOf(config, logger, error, 'unknown', path === '' ? undefined : path, undefined, undefined) }),
  );
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (refusal.retryAfterS !== undefined) headers['retry-after'] = String(refusal.retryAfterS);
  res.writeHead(refusal.status, headers).end(JSON.stringify(target.batch ? bodies : bodies[0]));
  return error;
}
