/**
 * Baseline: Socket.IO 4 room broadcast (`io.to(room).emit`). Subscribers
 * join the room on connection; a client connecting with auth
 * `{ role: "pub" }` is a publisher whose `publish` events are broadcast.
 * Cross-instance (`--redis URL`): `@socket.io/redis-adapter` on ioredis.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server, type Socket } from 'socket.io';
import { TOPIC, type BenchPayload } from '../lib/payload.js';
import { runServer } from './common.js';

await runServer('socket.io', async ({ redisUrl }) => {
  const http = createServer();
  const io = new Server(http, { serveClient: false });
  let last: Socket | undefined;
  const redis: Redis[] = [];
  if (redisUrl !== undefined) {
    const pub = new Redis(redisUrl);
    const sub = pub.duplicate();
    redis.push(pub, sub);
    io.adapter(createAdapter(pub, sub));
  }
  io.on('connection', (socket) => {
    if ((socket.handshake.auth as { role?: unknown }).role === 'pub') {
      socket.on('publish', (payload: BenchPayload) => io.to(TOPIC).emit('event', payload));
      return;
    }
    void socket.join(TOPIC);
    last = socket;
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  return {
    port: (http.address() as AddressInfo).port,
    subscribers: () => io.of('/').adapter.rooms.get(TOPIC)?.size ?? 0,
    publish: (payload) => {
      io.to(TOPIC).emit('event', payload);
    },
    buffered: () => {
      const transport = (last?.conn as unknown as { transport?: { socket?: { bufferedAmount?: number } } } | undefined)?.transport;
      return transport?.socket?.bufferedAmount ?? 0;
    },
    async close() {
      await io.close();
      for (const client of redis) client.disconnect();
    },
  };
});
