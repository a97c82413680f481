/**
 * Structured logs: the `Logger` shape every part of trpc-pubsub writes to,
 * the default one (`pino`, JSON lines on stderr, level from
 * `TRPC_PUBSUB_LOG_LEVEL`), and an adapter for an app's own pino logger.
 * Records carry ids, codes and causes, never event payloads above `debug`.
 * @module
 */
import { pino, type Logger as PinoLogger } from 'pino';

/** Log levels, most verbose first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Structured logger: a message plus fields (the order of console, not pino's `(fields, message)`; {@link fromPino} adapts one). */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** The level `TRPC_PUBSUB_LOG_LEVEL` names, or `info`. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const fromEnv = env['TRPC_PUBSUB_LOG_LEVEL']?.toLowerCase();
  return LEVELS.find((level) => level === fromEnv) ?? 'info';
}

/**
 * Adapts a pino logger (the app's, or a child of it) to {@link Logger}:
 * `logger.warn('closing slow consumer', { connection: 7 })` becomes
 * `pino.warn({ connection: 7 }, 'closing slow consumer')`.
 */
export function fromPino(logger: PinoLogger): Logger {
  return {
    debug: (message, fields) => logger.debug(fields ?? {}, message),
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
  };
}

/**
 * The default logger: pino writing one JSON line per record to stderr
 * (`{"level":40,"time":…,"name":"trpc-pubsub","msg":"…",…fields}`),
 * dropping records below `level`.
 * @param level lowest level written. @default `TRPC_PUBSUB_LOG_LEVEL`, else `'info'`
 */
export function createLogger(level: LogLevel = logLevelFromEnv()): Logger {
  return fromPino(pino({ name: 'trpc-pubsub', level }, pino.destination({ fd: 2, sync: true })));
}

/** The former name of {@link createLogger}. @deprecated use {@link createLogger} */
export const createConsoleLogger = createLogger;

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
