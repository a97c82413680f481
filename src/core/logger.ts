/** Log levels, most verbose first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Structured logger: a message plus fields. Compatible with pino's and console's argument order inverted to (message, fields). */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A logger writing one JSON line per record to stderr, dropping records
 * below `level`.
 * @param level lowest level written. @default 'info' (or `TRPC_PUBSUB_LOG_LEVEL`)
 */
export function createConsoleLogger(level: LogLevel = defaultLogLevel()): Logger {
  const min = ORDER[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    const line = JSON.stringify({ level: lvl, time: new Date().toISOString(), msg: message, ...fields });
    process.stderr.write(`${line}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function defaultLogLevel(): LogLevel {
  const fromEnv = process.env['TRPC_PUBSUB_LOG_LEVEL'];
  return fromEnv !== undefined && fromEnv in ORDER ? (fromEnv as LogLevel) : 'info';
}
