/**
 * `trpc-pubsub serve [topicsModule]`: a standalone server for a topics
 * module (or the built-in topics), on the memory, Redis or PostgreSQL
 * engine, until SIGINT or SIGTERM.
 * @module
 */
import { createPubSub } from '../core/pubsub.js';
import type { TopicRecord } from '../core/topics.js';
import { createPubSubRouter } from '../router/procedures.js';
import type { AllowedOrigins } from '../transport/ws/options.js';
import { createPubSubServer } from '../transport/ws/server.js';
import { defaultTopics } from './default-topics.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';
import { loadTopics } from './load-topics.js';
import { note, writeLine } from './output.js';
import { engineFor, type EngineChoice } from './serve-engine.js';
import { shutdownSignal } from './signals.js';

/** Options of {@link runServe}, as `main.ts` parsed them. */
export interface ServeOptions extends EngineChoice {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Interface to bind. */
  host: string;
  /** WebSocket path. */
  path: string;
  /** Browser origins allowed to connect (`*` for any); same-origin when empty. */
  allowOrigin: string[];
  /** How long the engine may take to start, in milliseconds. */
  engineTimeoutMs: number;
}

/**
 * Runs `serve`: prints `listening on ws://… (http://…)` on stdout once it
 * accepts connections, and resolves after a signal closed the server and
 * the pubsub.
 * @throws CliError: exit 2 for bad options, a topics module that does not
 *   load or an address in use; exit 1 when the engine does not start.
 */
export async function runServe(topicsModule: string | undefined, options: ServeOptions): Promise<void> {
  if (!options.path.startsWith('/')) throw usageError(`bad --path ${JSON.stringify(options.path)}: it starts with "/"`);
  const topics: TopicRecord = topicsModule === undefined ? defaultTopics : await loadTopics(topicsModule);
  const engine = await engineFor(options);
  const pubsub = createPubSub({ topics, engine });
  const server = createPubSubServer({
    pubsub,
    router: createPubSubRouter(pubsub),
    path: options.path,
    allowedOrigins: allowedOriginsOf(options.allowOrigin),
  });
  try {
    await startEngine(pubsub.ready(), options.engineTimeoutMs, () => pubsub.health().detail);
    const { url, httpUrl } = await server.listen({ port: options.port, host: options.host }).catch((error: unknown) => {
      throw usageError((error as Error).message, error);
    });
    writeLine(`listening on ${url} (${httpUrl}; engine ${pubsub.engine.name}; topics ${Object.keys(topics).join(', ')})`);
  } catch (error) {
    await server.close();
    await pubsub.close();
    throw error;
  }
  const signal = await shutdownSignal();
  note(`${signal}: shutting down`);
  await server.close();
  await pubsub.close();
}

/** `--allow-origin` values as the server option: `*`, a list, or same-origin when none. */
function allowedOriginsOf(origins: string[]): AllowedOrigins {
  if (origins.length === 0) return 'same-origin';
  return origins.includes('*') ? '*' : origins;
}

/** Waits for the engine; fails with exit 1 naming the cause when it does not start in time. */
async function startEngine(ready: Promise<void>, timeoutMs: number, detail: () => string | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const cause = detail();
      reject(new CliError(ExitCode.Failure, `the engine did not start within ${timeoutMs} ms${cause === undefined ? '' : `: ${cause}`}`));
    }, timeoutMs);
  });
  try {
    await Promise.race([ready, timeout]);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(ExitCode.Failure, `the engine did not start: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
