/**
 * The engine `serve` runs on: memory by default, Redis or PostgreSQL when
 * asked. The engines' entry points are imported only then, so the memory
 * path needs none of their optional peers.
 * @module
 */
import type { Engine } from '../engine/engine.js';
import { usageError } from './exit-codes.js';

/** Where `serve` gets its engine from (`--redis`, `--postgres`). */
export interface EngineChoice {
  redis?: string;
  postgres?: string;
}

/**
 * The engine for `choice`, `undefined` for the default memory engine.
 * @throws CliError (exit 2) for both options at once, a URL of the wrong
 *   scheme, or a missing optional peer (its message says what to install).
 */
export async function engineFor(choice: EngineChoice): Promise<Engine | undefined> {
  if (choice.redis !== undefined && choice.postgres !== undefined) throw usageError('serve: give --redis or --postgres, not both');
  if (choice.redis !== undefined) {
    checkScheme(choice.redis, ['redis:', 'rediss:'], '--redis');
    const { redisEngine } = await importEngine(() => import('../engine/redis.js'));
    return redisEngine({ url: choice.redis });
  }
  if (choice.postgres !== undefined) {
    checkScheme(choice.postgres, ['postgres:', 'postgresql:'], '--postgres');
    const { postgresEngine } = await importEngine(() => import('../engine/postgres.js'));
    return postgresEngine({ connectionString: choice.postgres });
  }
  return undefined;
}

function checkScheme(raw: string, schemes: string[], option: string): void {
  let scheme: string | undefined;
  try {
    scheme = new URL(raw).protocol;
  } catch {
    scheme = undefined;
  }
  if (scheme === undefined || !schemes.includes(scheme)) {
    throw usageError(`bad ${option} URL ${JSON.stringify(raw)}: expected ${schemes.map((s) => `${s}//…`).join(' or ')}`);
  }
}

/** Imports an engine entry point; a missing optional peer becomes a usage error with the install line. */
async function importEngine<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_TRPC_PUBSUB_MISSING_PEER') throw usageError((error as Error).message, error);
    throw error;
  }
}
