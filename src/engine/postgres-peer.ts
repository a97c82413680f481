/**
 * `pg`, which `trpc-pubsub/postgres` needs at run time, loaded once through
 * {@link importPeer} so that a missing package fails the import with one line
 * naming what to install. The PostgreSQL engine's modules take the value from
 * here and import only types from `pg`.
 * @module
 */
import type PG from 'pg';
import { importPeer } from './optional-peer.js';

/** The `pg` module (its default export: `Pool`, `Client`, `escapeIdentifier`, …). */
export const pg: typeof PG = (await importPeer('trpc-pubsub/postgres', ['pg'], () => import('pg'))).default;
