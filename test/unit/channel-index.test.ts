import { describe, expect, it } from 'vitest';
import type { PubSubEvent } from '../../client/protocol.js';
import { ChannelIndex, type Sink } from '../../src/core/channel-index.js';
import { EncodedEvent } from '../../src/core/encoded-event.js';
import type { SubscriptionScope } from '../../src/core/scope.js';

function recordingSink() {
  const got: string[] = [];
  const sink: Sink = { deliver: (encoded) => got.push(encoded.event.id), lost: () => {} };
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
