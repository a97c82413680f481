/**
 * The Redis engine on a real 3-master Redis Cluster started for this file
 * (`redis-server --cluster-enabled yes` ×3, `redis-cli --cluster create`),
 * through `ioredis` `Cluster` clients: the shared contract, and two server
 * instances as child processes with stock tRPC clients on each, how
 * publishes enter the cluster; and, on a cluster with a replica per
 * master, the failover of a topic's master.
 */
import { Cluster, type ClusterOptions } from 'ioredis';
import { createPubSub, type PubSubEvent } from 'trpc-pubsub';
import { redisEngine } from 'trpc-pubsub/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeAllInstances, runningInstances, startInstances, type Instance } from '../fixtures/instance.js';
import { connectClient } from '../fixtures/instance-client.js';
import { RedisCluster, redisSuite, type RedisServer } from '../fixtures/redis-server.js';
import { Inbox } from '../fixtures/inbox.js';
import { capturingLogger, contractTopics, describeEngineContract, settled, uniquePrefix } from './engine-contract.js';

const suite = redisSuite('Redis engine on a 3-master Redis Cluster');
let cluster: RedisCluster | undefined;
const clients: Cluster[] = [];

/** How many PUBLISH commands `node` ran since its stats were reset (those its scripts ran included). */
async function publishCalls(node: RedisServer): Promise<number> {
  const stats = (await node.command('INFO', 'commandstats')) as string;
  return Number(/^cmdstat_publish:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
}

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
    history: true,
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

  describe('publishing', () => {
    const closers: (() => Promise<unknown> | void)[] = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    function instance(prefix: string, publisherOptions: ClusterOptions = {}) {
      const publisher = new Cluster(cluster!.startupNodes, publisherOptions);
      const subscriber = new Cluster(cluster!.startupNodes);
      const pubsub = createPubSub({ topics: contractTopics, engine: redisEngine({ publisher, subscriber, prefix }), logger: capturingLogger() });
      closers.push(
        () => pubsub.close(),
        () => publisher.disconnect(),
        () => subscriber.disconnect(),
      );
      return pubsub;
    }

    it("enters every publish of a channel through the master of the channel's slot, and no other node", async () => {
      const prefix = uniquePrefix();
      const pubsub = instance(prefix);
      await pubsub.ready();
      const box = new Inbox<PubSubEvent>();
      pubsub.subscribe('news', box.push);
      await settled(pubsub);
      const masters = cluster!.nodes;
      await Promise.all(masters.map((node) => node.command('CONFIG', 'RESETSTAT')));
      const sent: PubSubEvent[] = [];
      for (let n = 0; n < 20; n++) sent.push(await pubsub.publish('news', { title: `#${n}` }));
      expect(await box.take(20)).toEqual(sent);
      const entry = await cluster!.masterOf(`${prefix}:{news}`);
      const calls = await Promise.all(masters.map(async (node) => [node.port, await publishCalls(node)]));
      expect(Object.fromEntries(calls)).toEqual(Object.fromEntries(masters.map((node) => [node.port, node === entry ? 20 : 0])));
    });

    it('publishes on the channel itself through a publisher with a keyPrefix', async () => {
      const prefix = uniquePrefix();
      const a = instance(prefix, { keyPrefix: 'app:' });
      const b = instance(prefix);
      await Promise.all([a.ready(), b.ready()]);
      const box = new Inbox<PubSubEvent>();
      b.subscribe('news', box.push);
      await settled(b);
      const event = await a.publish('news', { title: 'prefixed keys, same channel' });
      expect(await box.next()).toEqual(event);
    });
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
      expect(await cluster!.channels(`${prefix}:*`)).toEqual([`${prefix}:{chat}`, `${prefix}:{feed}`, `${prefix}:{news}`, `${prefix}:{room}`, `${prefix}:{tick}`]);
      await onA.trpc.chat.publish.mutate({ key: 'r1', data: { user: 'ann', text: 'from a client on A' } });
      const news = await b.publish('news', { title: 'from server code on B' });
      expect((await room.events.next()).data).toMatchObject({ kind: 'event', payload: { user: 'ann', text: 'from a client on A' } });
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

describe.skipIf(suite.skip)(`${suite.title.replace('3-master Redis Cluster', 'Redis Cluster')} through a failover`, () => {
  let replicated: RedisCluster | undefined;
  const closers: (() => Promise<unknown> | void)[] = [];

  beforeAll(async () => {
    replicated = await RedisCluster.start({ replicas: 1, nodeTimeoutMs: 1000 });
  }, 30_000);
  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await replicated?.dispose();
    expect(replicated?.nodes.every((n) => !n.running)).toBe(true);
  });

  function instance(prefix: string) {
    const publisher = new Cluster(replicated!.startupNodes);
    const subscriber = new Cluster(replicated!.startupNodes);
    const logger = capturingLogger();
    const pubsub = createPubSub({ topics: contractTopics, engine: redisEngine({ publisher, subscriber, prefix }), logger });
    closers.push(
      () => pubsub.close(),
      () => publisher.disconnect(),
      () => subscriber.disconnect(),
    );
    return pubsub;
  }

  it("keeps delivering once the replica of a dead topic's master took over, without duplicates", async () => {
    const prefix = uniquePrefix();
    const [a, b] = [instance(prefix), instance(prefix)];
    await Promise.all([a.ready(), b.ready()]);
    const box = new Inbox<PubSubEvent>();
    b.subscribe('news', box.push);
    await settled(b);
    const before = await a.publish('news', { title: 'before the failover' });
    expect(await box.next()).toEqual(before);
    const master = await replicated!.masterOf(`${prefix}:{news}`);
    await vi.waitFor(async () => expect(await master.command('INFO', 'replication')).toMatch(/slave0:.*state=online/), { timeout: 10_000 });

    await master.stop();
    await vi.waitFor(async () => expect((await replicated!.masterOf(`${prefix}:{news}`)).port).not.toBe(master.port), { timeout: 20_000, interval: 100 });
    await replicated!.healthy(20_000);

    // Publishes may fail while the cluster fails over; the first that succeeds must arrive, once.
    const after = await vi.waitFor(() => a.publish('news', { title: 'after the failover' }), { timeout: 20_000, interval: 200 });
    await vi.waitFor(() => expect(box.items.map((e) => e.id)).toContain(after.id), { timeout: 10_000 });
    const ids = box.items.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(box.items.every((e) => e.topic === 'news')).toBe(true);
    await vi.waitFor(() => expect([a.health().status, b.health().status]).toEqual(['ok', 'ok']), { timeout: 10_000 });
  }, 60_000);
});
