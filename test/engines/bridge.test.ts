/**
 * The bridge between the core and a broker, on a broker whose subscribe
 * the test completes by hand: what happens while a subscription is in
 * flight, and when the broker fails.
 */
import * as z from 'zod';
import { createPubSub, defineTopics, topic, type PubSubEvent } from 'trpc-pubsub';
import { BridgeEngine, type BrokerLink, type BrokerLinkEvents, type BrokerPubSub } from 'trpc-pubsub/redis';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred, Inbox } from '../fixtures/inbox.js';
import { capturingLogger } from './engine-contract.js';

const topics = defineTopics({ news: topic({ payload: z.object({ title: z.string() }) }) });

/** A broker that records calls and lets the test decide when a subscribe completes. */
class ManualBroker implements BrokerPubSub {
  readonly sent: string[] = [];
  readonly pendingSubscribes: { trigger: string; complete(): void; fail(error: Error): void }[] = [];
  readonly active = new Map<number, { trigger: string; onMessage: (m: unknown) => void }>();
  #nextId = 1;

  async publish(trigger: string, payload: unknown): Promise<void> {
    this.sent.push(JSON.parse(payload as string).event.payload.title as string);
    for (const sub of this.active.values()) if (sub.trigger === trigger) sub.onMessage(payload);
  }

  subscribe(trigger: string, onMessage: (m: unknown) => void): Promise<number> {
    const done = deferred<number>();
    this.pendingSubscribes.push({
      trigger,
      complete: () => {
        const id = this.#nextId++;
        this.active.set(id, { trigger, onMessage });
        done.resolve(id);
      },
      fail: (error) => done.reject(error),
    });
    return done.promise;
  }

  unsubscribe(subId: number): void {
    this.active.delete(subId);
  }
}

/** A broker link whose health the test sets. */
class TestLink implements BrokerLink {
  healthy = true;
  #events: BrokerLinkEvents | undefined;
  connect(events: BrokerLinkEvents): void {
    this.#events = events;
  }
  health() {
    return this.healthy ? { status: 'ok' as const } : { status: 'degraded' as const, detail: 'broker away' };
  }
  disconnect(): void {}
  /** The broker goes away. */
  lose(): void {
    this.healthy = false;
    this.#events?.lost();
  }
  /** The broker is back: subscriptions that failed are retried. */
  recover(): void {
    this.healthy = true;
    this.#events?.restored();
  }
}

/** A bridge over a broker link the test drives. */
class TestBridge extends BridgeEngine {
  readonly link: TestLink;
  constructor(broker: BrokerPubSub, options: { prefix: string }) {
    const link = new TestLink();
    super(broker, { ...options, link });
    this.link = link;
  }
  lose(): void {
    this.link.lose();
  }
  recover(): void {
    this.link.recover();
  }
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function setup() {
  const broker = new ManualBroker();
  const engine = new TestBridge(broker, { prefix: 'unit' });
  const logger = capturingLogger();
  const pubsub = createPubSub({ topics, engine, logger });
  closers.push(() => pubsub.close());
  return { broker, engine, pubsub, logs: logger.lines };
}

describe('bridge engine', () => {
  it('holds publishes until the broker subscription of a local subscriber is effective, in their order', async () => {
    const { broker, pubsub } = setup();
    const box = new Inbox<PubSubEvent>();
    pubsub.subscribe('news', box.push);
    const published = ['one', 'two', 'three'].map((title) => pubsub.publish('news', { title }));
    await box.nothing(30);
    expect(broker.sent).toEqual([]);
    broker.pendingSubscribes[0]!.complete();
    await Promise.all(published);
    expect(broker.sent).toEqual(['one', 'two', 'three']);
    expect((await box.take(3)).map((e) => e.payload)).toEqual([{ title: 'one' }, { title: 'two' }, { title: 'three' }]);
  });

  it('fails a publish waiting on a subscription at once when the broker goes away', async () => {
    const { broker, engine, pubsub } = setup();
    pubsub.subscribe('news', () => {});
    const waiting = pubsub.publish('news', { title: 'stuck?' });
    engine.lose();
    await expect(waiting).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: expect.stringContaining('unavailable') });
    broker.pendingSubscribes[0]!.fail(new Error('gone'));
  });

  it('does not wait more than a moment at close for a broker subscribe that never completes', async () => {
    const { pubsub } = setup();
    pubsub.subscribe('news', () => {});
    const started = Date.now();
    await pubsub.close();
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('ends unsubscribed when the last subscriber leaves while the broker subscribe is in flight', async () => {
    const { broker, engine, pubsub } = setup();
    const stop = pubsub.subscribe('news', () => {});
    stop();
    broker.pendingSubscribes[0]!.complete();
    await engine.settled();
    expect(broker.active.size).toBe(0);
    expect(engine.brokerChannels()).toEqual([]);
  });

  it('releases a broker subscription that completes after the engine closed', async () => {
    const { broker, pubsub } = setup();
    pubsub.subscribe('news', () => {});
    const closing = pubsub.close();
    broker.pendingSubscribes[0]!.complete();
    await closing;
    expect(broker.active.size).toBe(0);
  });

  it('logs a failed broker subscribe and retries it when the broker is back', async () => {
    const { broker, engine, pubsub, logs } = setup();
    const box = new Inbox<PubSubEvent>();
    pubsub.subscribe('news', box.push);
    engine.lose();
    broker.pendingSubscribes[0]!.fail(new Error('connection closed'));
    await engine.settled();
    expect(logs).toContainEqual(expect.objectContaining({ level: 'error', message: 'broker subscribe failed; retrying' }));
    engine.recover();
    expect(broker.pendingSubscribes).toHaveLength(2);
    broker.pendingSubscribes[1]!.complete();
    await engine.settled();
    const event = await pubsub.publish('news', { title: 'back' });
    expect(await box.next()).toEqual(event);
  });

  it('names channels <prefix>:{<topic>} and refuses a prefix that would break them', () => {
    expect(new BridgeEngine(new ManualBroker(), { prefix: 'app-1' }).channelOf('chat')).toBe('app-1:{chat}');
    expect(new BridgeEngine(new ManualBroker()).channelOf('chat')).toBe('trpc-pubsub:{chat}');
    for (const prefix of ['', 'a{b', 'a}b', 'with space']) expect(() => new BridgeEngine(new ManualBroker(), { prefix })).toThrow(/Invalid prefix/);
  });
});
