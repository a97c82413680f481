import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { textFrame } from '../../src/transport/ws/ws-frame.js';
import { WriteCoalescer, type CoalescedSocket } from '../../src/transport/ws/write-coalescer.js';

const leftovers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const dispose of leftovers.splice(0).reverse()) await dispose();
});

/** A ws server whose first connection's TCP socket the test writes to directly, and a real ws client reading it. */
async function rawPair() {
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const { port } = http.address() as AddressInfo;
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: string[] = [];
  client.on('message', (data, isBinary) => {
    expect(isBinary).toBe(false);
    received.push((data as Buffer).toString('utf8'));
  });
  await once(client, 'open');
  const [serverSide] = await accepted;
  const raw = (serverSide as unknown as { _socket: Socket })._socket;
  leftovers.push(async () => {
    client.terminate();
    wss.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return { raw, received };
}

describe('textFrame', () => {
  it.each([
    ['an empty text', ''],
    ['a short text', '{"a":1}'],
    ['a text of exactly 125 bytes', 'x'.repeat(125)],
    ['a text needing the 16-bit length', 'é'.repeat(1000)],
    ['a text of exactly 65535 bytes', 'y'.repeat(65_535)],
    ['a text needing the 64-bit length', 'z'.repeat(70_000)],
  ])('builds a frame a real ws client reads back as %s', async (_name, text) => {
    const { raw, received } = await rawPair();
    raw.write(textFrame(text));
    await expect.poll(() => received).toEqual([text]);
  });
});

describe('WriteCoalescer', () => {
  it('writes the first frame of a turn at once and corks the rest until the turn ends', async () => {
    const { raw, received } = await rawPair();
    const coalescer = new WriteCoalescer();
    const socket: CoalescedSocket = { raw, lastTurn: -1, corked: false };
    coalescer.write(socket, textFrame('1'));
    expect(raw.writableCorked).toBe(0);
    coalescer.write(socket, textFrame('2'));
    coalescer.write(socket, textFrame('3'));
    expect(raw.writableCorked).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(raw.writableCorked).toBe(0);
    await expect.poll(() => received).toEqual(['1', '2', '3']);
  });
});
