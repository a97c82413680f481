/**
 * The Redis engine on a real 3-master Redis Cluster started for this file
 * (`redis-server --cluster-enabled yes` ×3, `redis-cli --cluster create`),
 * through `ioredis` `Cluster` clients: the shared contract, and two server
 * instances as child processes with stock tRPC clients on each.
 */
import { Cluster } from 'ioredis';
import { redisEngine } from 'trpc-pubsub/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllInstances, runningInstances, startInstances, type Instance } from '../fixtures/instance.js';
import { connectClient } from '../fixtures/instance-client.js';
import { RedisCluster, redisSuite } from '../fixtures/redis-server.js';
import { describeEngineContract, uniquePrefix } from './engine-contract.js';

const suite = redisSuite('Redis engine on a 3-master Redis Cluster');
let cluster: RedisCluster | undefined;
const clients: Cluster[] = [];

describe.skipIf(suite.skip)(suite.title, () => {
  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 30_000);
  afterAll(async () => {
    await closeAllInstances();
    expect(runningInstances()).toBe(0);
    await cluster?.dispose();
    expect(cluster?.nodes.every((n) => !n.running)).toBe(true);
  });

  describeEngineContract('shared contract, three instances', {
    instances: 3,
    createEngine: (prefix) => {
      const publisher = new Cluster(cluster!.startupNodes);
      const subscriber = new Cluster(cluster!.startupNodes);
      clients.push(publisher, subscriber);
      return redisEngine({ publisher, subscriber, prefix });
    },
    cleanup: () => {
      for (const client of clients.splice(0)) client.disconnect();
    },
    brokerChannels: (prefix) => cluster!.channels(`${prefix}:*`),
    injectRaw: async (prefix, topic, raw) => {
      await cluster!.nodes[0]!.command('PUBLISH', `${prefix}:{${topic}}`, raw);
    },
  });

  describe('two server instances as child processes', () => {
    let instances: Instance[] = [];
    const prefix = uniquePrefix();
    beforeAll(async () => {
      instances = await startInstances(['A', 'B'], {
        ENGINE: 'redis-cluster',
        REDIS_CLUSTER_NODES: JSON.stringify(cluster!.startupNodes),
        PUBSUB_PREFIX: prefix,
      });
    });
    afterAll(async () => {
      await Promise.all(instances.map((i) => i.close()));
    });

    it('carries events between instances through the cluster, keyed and all-topics, and releases the channels', async () => {
      const [a, b] = instances as [Instance, Instance];
      await using onA = connectClient(a.url);
      await using onB = connectClient(b.url);
      const room = await onB.listen({ topic: 'chat', key: 'r1' });
      const everything = await onA.listen({ topic: 'allTopics' });
      await Promise.all([a.settled(), b.settled()]);
      expect(await cluster!.channels(`${prefix}:*`)).toEqual([`${prefix}:{chat}`, `${prefix}:{news}`, `${prefix}:{tick}`]);
      await onA.trpc.chat.publish.mutate({ key: 'r1', data: { user: 'ann', text: 'from a client on A' } });
      const news = await b.publish('news', { title: 'from server code on B' });
      expect((await room.events.next()).data.payload).toEqual({ user: 'ann', text: 'from a client on A' });
      // chat and news live on different cluster masters: there is no order across topics (PROTOCOL §9).
      const both = await everything.events.take(2);
      const byTopic = new Map(both.map((event) => [event.data.topic, event]));
      expect(byTopic.get('chat')?.data).toMatchObject({ topic: 'chat', key: 'r1' });
      expect(byTopic.get('news')?.id).toBe(news);
      room.unsubscribe();
      everything.unsubscribe();
      await Promise.all([a.settled(), b.settled()]);
      expect(await cluster!.channels(`${prefix}:*`)).toEqual([]);
    });
  });
});
