import { initTRPC, transformTRPCResponse } from '@trpc/server';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import type { PubSubEvent } from '../../client/protocol.js';
import { EncodedEvent } from '../../src/core/encoded-event.js';
import { FramePool } from '../../src/transport/ws/frame-pool.js';

/** The text payload of an unmasked server text frame. */
function payloadOf(frame: Buffer): string {
  expect(frame[0]).toBe(0x81);
  const short = frame[1]! & 0x7f;
  const offset = short === 126 ? 4 : short === 127 ? 10 : 2;
  return frame.subarray(offset).toString('utf8');
}

const event: PubSubEvent = { id: 'i1-1', kind: 'event', topic: 'news', payload: { title: 'héllo', at: new Date(0) }, ts: 1 };

describe.each([
  ['no transformer', initTRPC.create()._config],
  ['superjson', initTRPC.create({ transformer: superjson })._config],
])('FramePool frames (%s)', (_name, config) => {
  const ids = [1, 0, 'op-"7"', 'ünï'] as const;
  const jsonrpcs = [undefined, '2.0'] as const;

  it.each(ids.flatMap((id) => jsonrpcs.map((jsonrpc) => [id, jsonrpc] as const)))(
    'builds started and data frames for id %j, jsonrpc %j byte for byte as tRPC serializes them',
    (id, jsonrpc) => {
      const pool = new FramePool(config.transformer);
      const prefix = pool.acquire(id, jsonrpc);
      const encoded = new EncodedEvent(event);

      expect(payloadOf(prefix.started)).toBe(JSON.stringify(transformTRPCResponse(config, { id, jsonrpc, result: { type: 'started' } })));
      const data = { id, jsonrpc, result: { type: 'data' as const, id: event.id, data: { id: event.id, data: encoded.wire } } };
      expect(payloadOf(pool.frame(prefix, encoded))).toBe(JSON.stringify(transformTRPCResponse(config, data)));
    },
  );

  it('shares one prefix per operation id and forgets it with its last user', () => {
    const pool = new FramePool(config.transformer);
    const first = pool.acquire(1, undefined);
    const second = pool.acquire(1, undefined);
    expect(second).toBe(first);
    expect(pool.acquire(1, '2.0')).not.toBe(first);
    expect(pool.size).toBe(2);
    pool.release(first);
    pool.release(second);
    expect(pool.size).toBe(1);
  });
});
