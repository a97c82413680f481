/**
 * The Redis stack that `trpc-pubsub/redis` needs at run time, loaded once
 * through {@link importPeer} so that a missing package fails the import with
 * one line naming what to install. Every other module of the Redis engine
 * takes these values from here and imports only types from the packages.
 * @module
 */
import type * as GraphqlRedisSubscriptions from 'graphql-redis-subscriptions';
import type * as IORedis from 'ioredis';
import { importPeer } from './optional-peer.js';

const ENTRY = 'trpc-pubsub/redis';
/** What `trpc-pubsub/redis` needs beside `trpc-pubsub`'s own peers. */
const REDIS_PEERS = ['ioredis', 'graphql-redis-subscriptions', 'graphql-subscriptions', 'graphql'];

const ioredis: typeof IORedis = await importPeer(ENTRY, REDIS_PEERS, () => import('ioredis'));
const redisSubscriptions: typeof GraphqlRedisSubscriptions = await importPeer(ENTRY, REDIS_PEERS, () => import('graphql-redis-subscriptions'));

/** `ioredis`' standalone client class. */
export const Redis = ioredis.Redis;
/** `graphql-redis-subscriptions`' engine class. */
export const RedisPubSub = redisSubscriptions.RedisPubSub;
