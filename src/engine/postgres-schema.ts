/**
 * Creating the PostgreSQL engine's tables once per pool, and rolling back a
 * failed transaction without reusing a connection that cannot be trusted.
 * @module
 */
import type { Pool, PoolClient } from 'pg';
import { isPostgresTimeout } from './postgres-pubsub.js';

/**
 * Runs `ddl` (idempotent `CREATE … IF NOT EXISTS` statements, under the
 * schema advisory lock) in one transaction; rejects when it fails.
 */
export async function createSchema(pool: Pool, ddl: string): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (error) {
    broken = await rollBack(client, error);
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Rolls back after `error`. Resolves to the error to release `client` with
 * (so that the pool drops it) when its state is unknown: the failure was a
 * timeout (the connection may still be busy with it: no `ROLLBACK` is
 * queued behind it, closing it rolls back), or the `ROLLBACK` failed.
 */
export async function rollBack(client: PoolClient, error: unknown): Promise<Error | undefined> {
  if (isPostgresTimeout(error)) return error as Error;
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (failed) {
    return failed instanceof Error ? failed : new Error(String(failed));
  }
}
