/**
 * Reading client frames of the tRPC v11 WebSocket protocol: the strict
 * checks tRPC's own parser is lenient about (ids, methods), the first
 * `connectionParams` message, and where `lastEventId` goes.
 * @module
 */
import { TRPCError, type TRPCCombinedDataTransformer } from '@trpc/server';
import { parseConnectionParamsFromUnknown } from '@trpc/server/http';
import { parseTRPCMessage, type TRPCClientOutgoingMessage } from '@trpc/server/rpc';
import type { RequestId } from './subscription-table.js';

const METHODS = new Set(['query', 'mutation', 'subscription', 'subscription.stop']);

/** One message of a frame: a request to run, or why it cannot be one (answered to its id). */
export type DecodedRequest =
  | { readonly ok: true; readonly message: TRPCClientOutgoingMessage }
  | { readonly ok: false; readonly id: RequestId | null; readonly jsonrpc: '2.0' | undefined; readonly error: TRPCError };

/** What a client text frame holds. */
export type DecodedFrame =
  | { readonly kind: 'not-json'; readonly error: TRPCError }
  | { readonly kind: 'batch-too-big'; readonly messages: unknown[] }
  | { readonly kind: 'requests'; readonly requests: DecodedRequest[] };

/** Reads one text frame: a request or a batch of them (at most `maxBatchSize`), each checked strictly. */
export function decodeFrame(text: string, maxBatchSize: number, transformer: TRPCCombinedDataTransformer): DecodedFrame {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    return { kind: 'not-json', error: new TRPCError({ code: 'PARSE_ERROR', message: 'Frame is not valid JSON', cause }) };
  }
  const messages = Array.isArray(json) ? json : [json];
  if (Array.isArray(json) && messages.length > maxBatchSize) return { kind: 'batch-too-big', messages };
  const requests = messages.map((raw): DecodedRequest => {
    const { id, jsonrpc } = requestIdOf(raw);
    const problem = requestProblem(raw);
    if (problem !== undefined) return { ok: false, id, jsonrpc, error: problem };
    try {
      return { ok: true, message: parseTRPCMessage(raw, transformer) };
    } catch (cause) {
      return { ok: false, id, jsonrpc, error: new TRPCError({ code: 'PARSE_ERROR', message: messageOf(cause, 'Malformed message'), cause }) };
    }
  });
  return { kind: 'requests', requests };
}

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
