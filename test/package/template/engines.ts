/**
 * The rows that install the optional peers: the Redis and PostgreSQL entry
 * points typecheck against the app's versions of them.
 */
import type { Engine } from 'trpc-pubsub';
import { postgresEngine } from 'trpc-pubsub/postgres';
import { redisEngine } from 'trpc-pubsub/redis';

export function engineFor(url: string): Engine {
  return url.startsWith('postgres') ? postgresEngine({ connectionString: url }) : redisEngine({ url });
}
