/**
 * The close codes the WebSocket transport sends, and how `ws`'s refusals of
 * a frame map to them. PROTOCOL.md §6 lists every one.
 * @module
 */

/**
 * The close code `ws` sends when it refuses a frame, from the documented
 * `error.code` of its receiver errors (ws/doc/ws.md, "Error codes"): 1009
 * too big, 1007 invalid UTF-8, 1008 too many fragments, 1002 for the other
 * protocol errors.
 */
const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_UNEXPECTED_RSV_1: 1002,
  WS_ERR_UNEXPECTED_RSV_2_3: 1002,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
};

/** The close code `ws` sent for `error`, when it is one of its frame refusals. */
export function closeCodeOfWsError(error: Error): number | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  return code === undefined ? undefined : WS_ERROR_CLOSE_CODES[code];
}

/** The close code of a connection that ended without a closing handshake. */
export const ABNORMAL_CLOSURE = 1006;
