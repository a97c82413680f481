/**
 * Reading client frames of the tRPC v11 WebSocket protocol: the strict
 * checks tRPC's own parser is lenient about (ids, methods), the first
 * `connectionParams` message, and where `lastEventId` goes.
 * @module
 */
import { TRPCError } from '@trpc/server';
import { parseConnectionParamsFromUnknown } from '@trpc/server/http';
import type { RequestId } from './subscription-table.js';

const METHODS = new Set(['query', 'mutation', 'subscription', 'subscription.stop']);

/** Why a decoded message cannot be a tRPC request, or `undefined` when it can. */
export function requestProblem(raw: unknown): TRPCError | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return new TRPCError({ code: 'PARSE_ERROR', message: 'Message must be a JSON object' });
  }
  const { id, method } = raw as { id?: unknown; method?: unknown };
  if (id !== null && !isRequestId(id)) return new TRPCError({ code: 'PARSE_ERROR', message: '`id` must be an integer or a string of 1-64 characters' });
  if (typeof method !== 'string' || !METHODS.has(method)) {
    return new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `Unknown method ${JSON.stringify(method)}` });
  }
  return undefined;
}

/** The id and `jsonrpc` marker of a message, for its answer (`null` when it has no valid id). */
export function requestIdOf(raw: unknown): { id: RequestId | null; jsonrpc: '2.0' | undefined } {
  if (typeof raw !== 'object' || raw === null) return { id: null, jsonrpc: undefined };
  const { id, jsonrpc } = raw as { id?: unknown; jsonrpc?: unknown };
  return { id: isRequestId(id) ? id : null, jsonrpc: jsonrpc === '2.0' ? '2.0' : undefined };
}

/** A well-formed operation id: a safe integer, or a string of 1-64 characters. */
export function isRequestId(id: unknown): id is RequestId {
  return (typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && id.length > 0 && id.length <= 64);
}

/** Whether the upgrade URL says the client sends `connectionParams` first (`?connectionParams=1`). */
export function wantsConnectionParams(url: string | undefined): boolean {
  const path = url ?? '/';
  return path.includes('connectionParams=1') && new URL(path, 'http://localhost').searchParams.get('connectionParams') === '1';
}

/** The params of a `{"method":"connectionParams","data":{…}}` message; throws `PARSE_ERROR` for anything else. */
export function parseConnectionParams(text: string): Record<string, string | undefined> | null {
  try {
    const message: unknown = JSON.parse(text);
    if (typeof message !== 'object' || message === null || (message as { method?: unknown }).method !== 'connectionParams') {
      throw new Error('first message must be {"method":"connectionParams","data":{…}}');
    }
    return parseConnectionParamsFromUnknown((message as { data?: unknown }).data);
  } catch (cause) {
    throw new TRPCError({ code: 'PARSE_ERROR', message: `Malformed connectionParams message: ${messageOf(cause, '')}`, cause });
  }
}

/** The procedure input with the `lastEventId` wsLink sends beside it merged in (where the topic procedures read it). */
export function inputWithLastEventId(input: unknown, lastEventId: string | undefined): unknown {
  if (lastEventId === undefined) return input;
  return typeof input === 'object' && input !== null ? { ...input, lastEventId } : (input ?? { lastEventId });
}

/** `cause`'s message, or `fallback`. */
export function messageOf(cause: unknown, fallback: string): string {
  return cause instanceof Error && cause.message !== '' ? cause.message : fallback;
}
