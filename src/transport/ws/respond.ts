/**
 * How the WebSocket transport answers: tRPC response messages through the
 * router's transformer, error shapes through its error formatter, and the
 * server's `onError` hook — never throwing, whatever the formatter or the
 * hook does.
 * @module
 */
import { getTRPCErrorShape, transformTRPCResponse, type TRPCError, type TRPCProcedureType } from '@trpc/server';
import type { TRPCResponseMessage } from '@trpc/server/rpc';
import type { WebSocket } from 'ws';
import type { Logger } from '../../core/logger.js';
import type { RouterConfig } from './trpc-config.js';

const OPEN = 1;

/** The server's `onError` hook. */
export type OnErrorHook = (info: { error: TRPCError; path: string | undefined; type: string; input: unknown; ctx: unknown }) => void;

/** Sends `message` on `socket` (unless it is closing), transformed as tRPC's adapter does. */
export function sendResponse(socket: WebSocket, config: RouterConfig, message: TRPCResponseMessage): void {
  if (socket.readyState !== OPEN) return;
  socket.send(JSON.stringify(transformTRPCResponse(config, message)));
}

/** The error shape the router's formatter gives `error`; a formatter that throws gives a generic internal error (logged). */
export function errorShapeOf(
  config: RouterConfig,
  logger: Logger,
  error: TRPCError,
  type: TRPCProcedureType | 'unknown',
  path: string | undefined,
  input: unknown,
  ctx: unknown,
) {
  try {
    return getTRPCErrorShape({ config, error, type, path, input, ctx });
  } catch (cause) {
    logger.error('errorFormatter threw', { error: String(cause) });
    return { code: -32603, message: 'Internal server error', data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 } };
  }
}

/** Runs the `onError` hook, logging (never throwing) its own failure. */
export function reportError(hook: OnErrorHook | undefined, logger: Logger, info: Parameters<OnErrorHook>[0]): void {
  try {
    hook?.(info);
  } catch (cause) {
    logger.error('onError hook threw', { error: String(cause) });
  }
}
