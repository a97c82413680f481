import { describe, expect, it } from 'vitest';
import { isValidChannelKey, isValidEventId, isValidTopicName, isWireEvent } from '../../client/protocol.js';
import { backoffDelay, DEFAULT_RETRY } from '../../client/backoff.js';

describe('the shared protocol module', () => {
  it.each([['chat'], ['a'], ['room_42'], ['X'.repeat(64)]])('accepts %j as a topic name', (name) => {
    expect(isValidTopicName(name)).toBe(true);
  });
  it.each([[''], ['1chat'], ['_x'], ['chat:room'], ['chat.events'], ['a b'], ['X'.repeat(65)], ['allTopics'], ['é']])(
    'refuses %j as a topic name',
    (name) => {
      expect(isValidTopicName(name)).toBe(false);
    },
  );
  it.each([['abc-1'], ['Zz09._:-'], ['x'.repeat(128)]])('accepts %j as an event id', (id) => {
    expect(isValidEventId(id)).toBe(true);
  });
  it.each([[''], ['x'.repeat(129)], ['a b'], ['a\nb'], [1], [null], [{}], [['a']]])('refuses %j as an event id', (id) => {
    expect(isValidEventId(id)).toBe(false);
  });
  it.each([['room-1'], [0], [-3.5], ['x'.repeat(256)]])('accepts %j as a channel key', (key) => {
    expect(isValidChannelKey(key)).toBe(true);
  });
  it.each([[''], ['x'.repeat(257)], [Number.NaN], [Number.POSITIVE_INFINITY], [null], [{}], [true]])('refuses %j as a channel key', (key) => {
    expect(isValidChannelKey(key)).toBe(false);
  });
  it('recognises a wire event and refuses look-alikes', () => {
    expect(isWireEvent({ kind: 'event', topic: 'chat', key: 'r', payload: 1, ts: 1 })).toBe(true);
    expect(isWireEvent({ kind: 'event', topic: 'tick', ts: 1 })).toBe(true);
    for (const bad of [null, 1, 'x', {}, { kind: 'gap', topic: 't', ts: 1 }, { kind: 'event', topic: 1, ts: 1 }, { kind: 'event', topic: 't' }, { kind: 'event', topic: 't', ts: 1, key: {} }]) {
      expect(isWireEvent(bad)).toBe(false);
    }
  });
});

describe('the client backoff', () => {
  const noJitter = { ...DEFAULT_RETRY, jitter: 0 };
  it('reconnects at once first, then grows by the factor up to the cap', () => {
    expect([0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(attempt, noJitter))).toEqual([0, 250, 500, 1000, 2000, 10_000]);
  });
  it('spreads delays by at most the jitter fraction', () => {
    const options = { ...DEFAULT_RETRY, jitter: 0.2 };
    expect(backoffDelay(1, options, () => 0)).toBe(200);
    expect(backoffDelay(1, options, () => 1)).toBe(300);
  });
});
