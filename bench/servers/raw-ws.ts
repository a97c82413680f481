/**
 * Baseline "the limit": a bare `ws` server broadcasting one pre-serialized
 * string per event to a Set of subscribers (the `ws` README's broadcast).
 * Subscribers connect to `/sub`; any other path is a publisher whose text
 * messages (`{"payload":…}`) are broadcast (client-to-client round trip).
 * Many-channels: `/sub?rooms=r1,r2` joins those rooms of a hand-written
 * room map (bench/lib/room-map.ts) instead; an event to a room is one
 * string sent to each member.
 * Cross-instance: events travel through Redis pub/sub with ioredis, the
 * subscriber instance broadcasting each message string as it arrives.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { TOPIC, type BenchPayload } from '../lib/payload.js';
import { RoomMap } from '../lib/room-map.js';
import { runServer } from './common.js';

await runServer('raw-ws', async ({ role, redisUrl }) => {
  const subscribers = new Set<WebSocket>();
  const rooms = new RoomMap<WebSocket>();
  let last: WebSocket | undefined;
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });

  const broadcast = (message: string) => {
    for (const client of subscribers) if (client.readyState === 1) client.send(message);
  };

  const pub = redisUrl === undefined ? undefined : new Redis(redisUrl);
  const sub = redisUrl === undefined || role === 'publisher' ? undefined : new Redis(redisUrl);
  if (sub !== undefined) {
    await sub.subscribe(TOPIC);
    sub.on('message', (_channel: string, message: string) => broadcast(message));
  }
  const deliver = (payload: BenchPayload) => {
    const message = JSON.stringify({ topic: TOPIC, payload });
    if (pub !== undefined) void pub.publish(TOPIC, message);
    else broadcast(message);
  };

  wss.on('connection', (socket, req) => {
    socket.on('error', () => undefined);
    if (req.url?.startsWith('/sub?rooms=') === true) {
      const joined = req.url.slice('/sub?rooms='.length).split(',');
      for (const room of joined) rooms.join(room, socket);
      last = socket;
      socket.once('close', () => {
        for (const room of joined) rooms.leave(room, socket);
      });
    } else if (req.url === '/sub') {
      subscribers.add(socket);
      last = socket;
      socket.once('close', () => subscribers.delete(socket));
    } else {
      socket.on('message', (data) => {
        const { payload } = JSON.parse(String(data)) as { payload: BenchPayload };
        deliver(payload);
      });
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  return {
    port: (http.address() as AddressInfo).port,
    subscribers: () => subscribers.size + rooms.memberships,
    publish: deliver,
    publishRoom: (room, payload) => {
      const members = rooms.members(room);
      if (members === undefined) return;
      const message = JSON.stringify({ topic: room, payload });
      for (const client of members) if (client.readyState === 1) client.send(message);
    },
    buffered: () => last?.bufferedAmount ?? 0,
    async close() {
      pub?.disconnect();
      sub?.disconnect();
      for (const socket of subscribers) socket.terminate();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
});
