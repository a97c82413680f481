/**
 * The memory engine's history through the engine seam: ids it gives,
 * `since` and `latest` for one channel, every key of a topic and every
 * topic, and the gaps (`expired`, `unknown`) when a position is no longer
 * or never was in the history.
 */
import { describe, expect, it } from 'vitest';
import type { EngineContext, HistoryPolicy, PubSubEvent, SubscriptionScope } from '../../src/engine/engine.js';
import { MemoryEngine } from '../../src/engine/memory.js';

const chat: SubscriptionScope = { kind: 'channel', topic: 'chat', key: 'r1' };
const allChat: SubscriptionScope = { kind: 'topic', topic: 'chat' };
const everything: SubscriptionScope = { kind: 'all' };

function started(policies: Record<string, HistoryPolicy | undefined>) {
  const delivered: PubSubEvent[] = [];
  const clock = { now: 1_000 };
  const engine = new MemoryEngine({ now: () => clock.now });
  const context: EngineContext = {
    deliver: (event) => delivered.push(event),
    log: () => {},
    instanceId: 'test',
    topics: Object.keys(policies),
    history: (topic) => policies[topic],
    gap: () => {},
    presence: () => {},
  };
  engine.start(context);
  const publish = (topic: string, key: string | undefined, text: string) =>
    engine.publish(key === undefined ? topic : `${topic}:${key}`, { kind: 'event', topic, payload: text, ts: clock.now, ...(key === undefined ? {} : { key }) });
  return { engine, delivered, publish, clock };
}

const texts = (events: readonly PubSubEvent[]) => events.map((e) => e.payload);

describe('the memory engine history', () => {
  it('gives increasing ids of one epoch and delivers each event once, synchronously', async () => {
    const { engine, delivered, publish } = started({ chat: { maxEvents: 10 } });
    const a = await publish('chat', 'r1', 'a');
    const b = await publish('chat', 'r1', 'b');
    expect(a.id).toMatch(new RegExp(`^${engine.epoch}:`));
    expect(a.id < b.id).toBe(true);
    expect(texts(delivered)).toEqual(['a', 'b']);
  });

  it('replays what came after an id, and nothing after the newest', async () => {
    const { engine, publish } = started({ chat: { maxEvents: 10 } });
    const a = await publish('chat', 'r1', 'a');
    await publish('chat', 'r1', 'b');
    const c = await publish('chat', 'r1', 'c');
    const after = await engine.since(chat, a.id);
    expect(after.ok && texts(after.events)).toEqual(['b', 'c']);
    expect(after.cursor).toBe(c.id);
    expect(await engine.since(chat, c.id)).toEqual({ ok: true, events: [], cursor: c.id });
  });

  it('says expired when the count bound dropped what came after the id', async () => {
    const { engine, publish } = started({ chat: { maxEvents: 2 } });
    const a = await publish('chat', 'r1', 'a');
    const b = await publish('chat', 'r1', 'b');
    await publish('chat', 'r1', 'c');
    await publish('chat', 'r1', 'd');
    expect(await engine.since(chat, a.id)).toMatchObject({ ok: false, reason: 'expired' });
    const fromB = await engine.since(chat, b.id);
    expect(fromB.ok && texts(fromB.events)).toEqual(['c', 'd']);
  });

  it('says expired when the age bound dropped it, even once the channel is empty', async () => {
    const { engine, publish, clock } = started({ chat: { maxEvents: 10, maxAgeMs: 100 } });
    const a = await publish('chat', 'r1', 'a');
    clock.now += 50;
    const b = await publish('chat', 'r1', 'b');
    clock.now += 60; // a is 110 ms old, b 60 ms
    expect(await engine.since(chat, a.id)).toMatchObject({ ok: true, events: [{ id: b.id }] });
    clock.now += 50; // both too old: the channel is forgotten
    expect(await engine.since(chat, a.id)).toMatchObject({ ok: false, reason: 'expired' });
    expect(await engine.since(chat, b.id)).toMatchObject({ ok: true, events: [] });
  });

  it('says unknown for an id of another epoch, a malformed one, or one ahead of the history', async () => {
    const { engine, publish } = started({ chat: { maxEvents: 10 } });
    await publish('chat', 'r1', 'a');
    for (const id of ['other:11', 'no-colon', `${engine.epoch}:zz`, `${engine.epoch}:19`]) {
      expect(await engine.since(chat, id)).toMatchObject({ ok: false, reason: 'unknown' });
    }
  });

  it('merges the channels of a topic, and of every topic, in publish order', async () => {
    const { engine, publish } = started({ chat: { maxEvents: 10 }, news: { maxEvents: 10 }, tick: undefined });
    const first = await publish('chat', 'r1', 'r1-a');
    await publish('chat', 'r2', 'r2-a');
    await publish('news', undefined, 'headline');
    await publish('tick', undefined, 'not kept');
    await publish('chat', 'r1', 'r1-b');
    const topic = await engine.since(allChat, first.id);
    expect(topic.ok && texts(topic.events)).toEqual(['r2-a', 'r1-b']);
    const all = await engine.since(everything, first.id);
    expect(all.ok && texts(all.events)).toEqual(['r2-a', 'headline', 'r1-b']);
  });

  it('gives the newest n events of a scope, oldest first', async () => {
    const { engine, publish } = started({ chat: { maxEvents: 10 } });
    for (const text of ['a', 'b', 'c', 'd']) await publish('chat', 'r1', text);
    await publish('chat', 'r2', 'other room');
    const latest = await engine.latest(chat, 2);
    expect(latest.ok && texts(latest.events)).toEqual(['c', 'd']);
    const topicLatest = await engine.latest(allChat, 3);
    expect(topicLatest.ok && texts(topicLatest.events)).toEqual(['c', 'd', 'other room']);
  });

  it('keeps nothing for a topic without a history policy', async () => {
    const { engine, publish } = started({ tick: undefined });
    const a = await publish('tick', undefined, 'a');
    await publish('tick', undefined, 'b');
    const read = await engine.since({ kind: 'channel', topic: 'tick', key: undefined }, a.id);
    expect(read.ok && read.events).toEqual([]);
  });
});
