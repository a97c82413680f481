/**
 * Baseline: Socket.IO 4 room broadcast (`io.to(room).emit`). Subscribers
 * join the room on connection; a client connecting with auth
 * `{ role: "pub" }` is a publisher whose `publish` events are broadcast.
 * Cross-instance (`--redis URL`): `@socket.io/redis-adapter` on ioredis.
 * Many-channels: a client connecting with auth `{ rooms: [...] }` joins
 * those rooms instead; an event to a room is `io.to(room).emit`.
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
  let roomMembers = 0;
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
    const rooms = (socket.handshake.auth as { rooms?: unknown }).rooms;
    if (Array.isArray(rooms)) {
      const names = rooms.filter((room): room is string => typeof room === 'string');
      void socket.join(names);
      roomMembers += names.length;
      socket.once('disconnect', () => (roomMembers -= names.length));
    } else {
      void socket.join(TOPIC);
    }
    last = socket;
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  return {
    port: (http.address() as AddressInfo).port,
    subscribers: () => (io.of('/').adapter.rooms.get(TOPIC)?.size ?? 0) + roomMembers,
    publish: (payload) => {
      io.to(TOPIC).emit('event', payload);
    },
    publishRoom: (room, payload) => {
      io.to(room).emit('event', payload);
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
