/**
 * The CLI's exit codes and the one error type its commands throw to leave
 * with one of them: `main.ts` prints its message on stderr, on one line.
 * @module
 */

/** What each exit code of `trpc-pubsub` means (`--help` and the README list them). */
export const ExitCode = {
  /** Done (also after SIGINT/SIGTERM ended `serve` or `sub`). */
  Ok: 0,
  /** Anything else: the server failed (`SERVICE_UNAVAILABLE`, `TOO_MANY_REQUESTS`, …), the engine did not start, a bug. */
  Failure: 1,
  /** Bad input: arguments or options, a URL that is not ws:// or wss:// or that cannot be reached, invalid JSON, a topics module that does not load, an address in use. */
  Usage: 2,
  /** The server has no such topic (`NOT_FOUND`). */
  UnknownTopic: 3,
  /** The server refused the payload or key (`BAD_REQUEST`). */
  Refused: 4,
  /** The server refused the caller (`FORBIDDEN`, `UNAUTHORIZED`). */
  NotAllowed: 5,
} as const;

/** One of {@link ExitCode}'s values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit-code table, as `--help` prints it. */
export const EXIT_CODES_HELP = `Exit codes:
  0  done (also after Ctrl-C / SIGTERM ends serve or sub)
  1  other failure (server or broker error, engine did not start)
  2  bad input: arguments, options, a URL that is not ws:// or wss://
     or cannot be reached, invalid JSON, a topics module that does not load
  3  unknown topic (NOT_FOUND)
  4  payload or key refused by the topic's schema (BAD_REQUEST)
  5  not allowed (FORBIDDEN, UNAUTHORIZED)`;

/** A failure the CLI reports with one line on stderr and exit code {@link CliError.exitCode}. */
export class CliError extends Error {
  override readonly name = 'CliError';

  /**
   * @param exitCode the code the process exits with
   * @param message one line, printed on stderr as `trpc-pubsub: <message>`
   */
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A {@link CliError} with {@link ExitCode.Usage}. */
export function usageError(message: string, cause?: unknown): CliError {
  return new CliError(ExitCode.Usage, message, { cause });
}
