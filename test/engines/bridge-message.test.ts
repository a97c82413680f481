import type { PubSubEvent } from 'trpc-pubsub';
import { BRIDGE_MESSAGE_VERSION, decodeBridgeMessage, encodeBridgeMessage } from 'trpc-pubsub/redis';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';

const event: PubSubEvent = { id: 'inst1-1', kind: 'event', topic: 'chat', key: 'room-1', payload: { text: 'hi' }, ts: 1_700_000_000_000 };

describe('bridge message framing', () => {
  it('frames an event as { v: 1, origin, event } and reads it back', () => {
    const text = encodeBridgeMessage('inst1', event);
    expect(JSON.parse(text)).toEqual({ v: BRIDGE_MESSAGE_VERSION, origin: 'inst1', event });
    expect(decodeBridgeMessage(text)).toEqual({ ok: true, message: { v: 1, origin: 'inst1', event } });
  });

  it('reads a Buffer, an already parsed object, and a message a JSON-encoding broker wrapped once more', () => {
    const text = encodeBridgeMessage('inst1', event);
    for (const raw of [Buffer.from(text), JSON.parse(text) as unknown, JSON.stringify(text)]) {
      expect(decodeBridgeMessage(raw)).toMatchObject({ ok: true, message: { event } });
    }
  });

  it('ignores fields it does not know, so that later additions need no new version', () => {
    const raw = { v: 1, origin: 'inst1', stream: '1700000000000-0', event: { ...event, extra: 'dropped' } };
    const decoded = decodeBridgeMessage(JSON.stringify(raw));
    expect(decoded).toEqual({ ok: true, message: { v: 1, origin: 'inst1', event } });
  });

  it('restores an absent payload (payload-less topics) and keeps numeric keys', () => {
    const tick = { id: 'inst1-2', kind: 'event', topic: 'meter', key: 7, ts: 1 };
    const decoded = decodeBridgeMessage(JSON.stringify({ v: 1, origin: 'inst1', event: tick }));
    expect(decoded).toEqual({ ok: true, message: { v: 1, origin: 'inst1', event: { ...tick, payload: undefined } } });
  });

  it('round-trips dates with another codec', () => {
    const dated = { ...event, payload: { at: new Date(5) } };
    const decoded = decodeBridgeMessage(encodeBridgeMessage('inst1', dated, superjson), superjson);
    expect(decoded).toEqual({ ok: true, message: { v: 1, origin: 'inst1', event: dated } });
  });

  it.each([
    ['not JSON', '{oops', /not parseable/],
    ['a JSON array', '[1,2]', /not an object/],
    ['a number', 42, /not an object/],
    ['another version', { v: 2, origin: 'inst1', event }, /unsupported version 2/],
    ['no origin', { v: 1, event }, /bad origin/],
    ['an origin with spaces', { v: 1, origin: 'in st', event }, /bad origin/],
    ['no event', { v: 1, origin: 'inst1' }, /event is not an object/],
    ['a bad event id', { v: 1, origin: 'inst1', event: { ...event, id: '' } }, /bad event id/],
    ['another kind', { v: 1, origin: 'inst1', event: { ...event, kind: 'gap' } }, /bad event kind/],
    ['a bad topic', { v: 1, origin: 'inst1', event: { ...event, topic: 'no spaces allowed' } }, /bad topic/],
    ['a bad key', { v: 1, origin: 'inst1', event: { ...event, key: '' } }, /bad key/],
    ['a null key', { v: 1, origin: 'inst1', event: { ...event, key: null } }, /bad key/],
    ['no timestamp', { v: 1, origin: 'inst1', event: { ...event, ts: 'now' } }, /bad timestamp/],
  ])('refuses %s, with the reason', (_what, raw, reason) => {
    const decoded = decodeBridgeMessage(typeof raw === 'string' ? raw : JSON.stringify(raw));
    expect(decoded.ok).toBe(false);
    expect(decoded.ok ? '' : decoded.reason).toMatch(reason);
  });
});
