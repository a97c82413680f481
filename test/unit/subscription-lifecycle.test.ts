/**
 * The core's subscription lifecycle as a transport sees it: a transport of
 * the test's own (it records what the core asks it to do) on a real
 * pubsub with the memory engine. STARTING → LIVE → CLOSED, `started`
 * before anything else, `close()` safe twice and leaving the index.
 */
import * as z from 'zod';
import { createPubSub, defineTopics, silentLogger, Subscription, SubscriptionState, topic, type EncodedEvent, type GapSignal } from 'trpc-pubsub';
import { describe, expect, it } from 'vitest';

const topics = defineTopics({ chat: topic({ key: z.string(), payload: z.string(), history: { maxEvents: 10 } }) });

/** A transport that writes down what it is told. */
class RecordingSubscription extends Subscription {
  readonly log: string[] = [];
  readonly origin = 'server' as const;
  readonly ctx = undefined;
  protected onLive(): void {
    this.log.push('started');
  }
  protected onEvent(encoded: EncodedEvent): void {
    this.log.push(`event ${String(encoded.event.payload)}`);
  }
  protected onGap(gap: GapSignal): void {
    this.log.push(`gap ${gap.reason}`);
  }
  protected onFail(): void {
    this.log.push('failed');
  }
}

describe('the subscription lifecycle', () => {
  it('goes live at once when there is nothing to wait for, and closes once', async () => {
    await using pubsub = createPubSub({ topics, logger: silentLogger });
    const subscription = new RecordingSubscription(pubsub.core, { kind: 'channel', topic: 'chat', key: 'a' }, undefined);
    expect(subscription.state).toBe(SubscriptionState.STARTING);
    expect(subscription.open()).toBeUndefined();
    expect(subscription.state).toBe(SubscriptionState.LIVE);
    await pubsub.publish('chat', 'hi', { key: 'a' });
    expect(pubsub.health().subscriptions).toBe(1);

    subscription.close();
    subscription.close();
    await pubsub.publish('chat', 'after close', { key: 'a' });
    expect(subscription.state).toBe(SubscriptionState.CLOSED);
    expect(subscription.log).toEqual(['started', 'event hi']);
    expect(pubsub.health().subscriptions).toBe(0);
  });

  it('sends started, then the replay, then what arrived meanwhile, when resuming', async () => {
    await using pubsub = createPubSub({ topics, logger: silentLogger });
    const mark = await pubsub.publish('chat', 'mark', { key: 'a' });
    await pubsub.publish('chat', 'missed', { key: 'a' });
    const subscription = new RecordingSubscription(pubsub.core, { kind: 'channel', topic: 'chat', key: 'a' }, undefined);
    const starting = subscription.open(mark.id);
    // The memory engine delivers within publish(), before the history read has come back.
    const published = pubsub.publish('chat', 'while starting', { key: 'a' });
    expect(subscription.state).toBe(SubscriptionState.STARTING);
    await published;
    await starting;
    expect(subscription.state).toBe(SubscriptionState.LIVE);
    expect(subscription.log).toEqual(['started', 'event missed', 'event while starting']);
    subscription.close();
  });

  it('never goes live when closed while starting', async () => {
    await using pubsub = createPubSub({ topics, logger: silentLogger });
    const subscription = new RecordingSubscription(pubsub.core, { kind: 'channel', topic: 'chat', key: 'a' }, undefined);
    const starting = subscription.open('foreign:11');
    subscription.close();
    await starting;
    expect(subscription.state).toBe(SubscriptionState.CLOSED);
    expect(subscription.log).toEqual([]);
    expect(pubsub.health().subscriptions).toBe(0);
  });

  it('refuses to open on a closed pubsub, and the pubsub says it is closed', async () => {
    const pubsub = createPubSub({ topics, logger: silentLogger });
    expect(pubsub.state).toBe('open');
    await pubsub.close();
    await pubsub.close();
    expect(pubsub.state).toBe('closed');
    const subscription = new RecordingSubscription(pubsub.core, { kind: 'all' }, undefined);
    expect(() => subscription.open()).toThrow(expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }));
  });
});
