/**
 * Turns what the server answered an operation with (a tRPC error envelope,
 * as `@trpc/client` reports it) into the CLI's exit codes and one line.
 * @module
 */
import { CliError, ExitCode } from './exit-codes.js';
import { knownTopicNames } from './remote-topics.js';

/** The tRPC error code of a client-side error (`data.code` in the envelope), if it has one. */
export function trpcCodeOf(error: unknown): string | undefined {
  const e = error as { data?: { code?: unknown } | null; shape?: { data?: { code?: unknown } } | null } | null | undefined;
  const code = e?.data?.code ?? e?.shape?.data?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `text` on one line (zod's prettified errors span several). */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

/**
 * The {@link CliError} for an operation on `topic` that the server refused
 * with `error`: `NOT_FOUND` → exit 3 naming the known topics, `BAD_REQUEST`
 * → exit 4 with the server's message, `FORBIDDEN`/`UNAUTHORIZED` → exit 5,
 * anything else → exit 1.
 */
export async function fromServerError(error: unknown, wsUrl: URL, topic: string | undefined): Promise<CliError> {
  const code = trpcCodeOf(error);
  const message = oneLine(error instanceof Error ? error.message : String(error));
  switch (code) {
    case 'NOT_FOUND': {
      if (topic === undefined) return new CliError(ExitCode.UnknownTopic, `the server has no all-topics subscription (${message})`);
      const known = await knownTopicNames(wsUrl);
      const hint = known === undefined ? ' (the server does not list its topics)' : `; known: ${known.join(', ') || '(none)'}`;
      return new CliError(ExitCode.UnknownTopic, `unknown topic ${topic}${hint}`, { cause: error });
    }
    case 'BAD_REQUEST':
      return new CliError(ExitCode.Refused, message, { cause: error });
    case 'FORBIDDEN':
    case 'UNAUTHORIZED':
      return new CliError(ExitCode.NotAllowed, `${code}: ${message}`, { cause: error });
    default:
      return new CliError(ExitCode.Failure, code === undefined ? message : `${code}: ${message}`, { cause: error });
  }
}
