import { describe, expect, it } from 'vitest';
import type { PubSubEvent } from '../../client/protocol.js';
import { ChannelIndex, type Sink } from '../../src/channel-index.js';
import { EncodedEvent } from '../../src/encoded-event.js';
import { MemoryHistory } from '../../src/history.js';
import type { SubscriptionScope } from '../../src/subscription-scope.js';

function recordingSink() {
  const got: string[] = [];
  const sink: Sink = { deliver: (encoded) => got.push(encoded.event.id) };
  return { sink, got };
}
const event = (id: string, topic: string, key?: string | number): PubSubEvent => ({ id, kind: 'event', topic, payload: null, ts: 0, ...(key === undefined ? {} : { key }) });

describe('ChannelIndex', () => {
  it('delivers an event to its channel, its topic-wide and its all-topics sinks, each once', () => {
    const index = new ChannelIndex();
    const room1 = recordingSink();
    const room2 = recordingSink();
    const everyRoom = recordingSink();
    const everything = recordingSink();
    index.insert({ kind: 'channel', topic: 'chat', key: 'r1' }, room1.sink);
    index.insert({ kind: 'channel', topic: 'chat', key: 'r2' }, room2.sink);
    index.insert({ kind: 'topic', topic: 'chat' }, everyRoom.sink);
    index.insert({ kind: 'all' }, everything.sink);
    index.dispatch(new EncodedEvent(event('e1', 'chat', 'r1')));
    index.dispatch(new EncodedEvent(event('e2', 'news')));
    expect(room1.got).toEqual(['e1']);
    expect(room2.got).toEqual([]);
    expect(everyRoom.got).toEqual(['e1']);
    expect(everything.got).toEqual(['e1', 'e2']);
  });

  it('tells the activity listener about the first and the last sink of a scope, and forgets empty scopes', () => {
    const log: string[] = [];
    const index = new ChannelIndex({ onActive: (s) => log.push(`+${s.kind}`), onIdle: (s) => log.push(`-${s.kind}`) });
    const scope: SubscriptionScope = { kind: 'channel', topic: 'chat', key: 'r1' };
    const a = recordingSink().sink;
    const b = recordingSink().sink;
    index.insert(scope, a);
    index.insert(scope, b);
    expect(index.remove(scope, a)).toBe(true);
    expect(index.remove(scope, a)).toBe(false);
    expect(index.size).toBe(1);
    expect(index.remove(scope, b)).toBe(true);
    expect(log).toEqual(['+channel', '-channel']);
    expect(index.size).toBe(0);
    expect(index.scopeCount).toBe(0);
  });
});

describe('MemoryHistory', () => {
  it('keeps at most maxEvents per channel and finds what came after an id', () => {
    const history = new MemoryHistory(() => 0);
    const policy = { maxEvents: 3 };
    for (const id of ['a', 'b', 'c', 'd']) history.append('chat:r1', event(id, 'chat', 'r1'), policy);
    expect(history.recent('chat:r1').map((e) => e.id)).toEqual(['b', 'c', 'd']);
    expect(history.since('chat:r1', 'b', policy)).toMatchObject({ found: true, events: [{ id: 'c' }, { id: 'd' }] });
    expect(history.since('chat:r1', 'a', policy)).toEqual({ found: false, oldestId: 'b' });
  });

  it('drops events older than maxAgeMs', () => {
    let now = 1_000;
    const history = new MemoryHistory(() => now);
    const policy = { maxEvents: 10, maxAgeMs: 100 };
    history.append('t', { ...event('old', 't'), ts: 950 }, policy);
    history.append('t', { ...event('new', 't'), ts: 1_000 }, policy);
    now = 1_060;
    expect(history.since('t', 'new', policy)).toEqual({ found: true, events: [] });
    expect(history.recent('t').map((e) => e.id)).toEqual(['new']);
  });
});
