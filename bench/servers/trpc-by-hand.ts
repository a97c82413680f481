/**
 * Baseline: tRPC 11 as a team would write it by hand, the stock
 * `applyWSSHandler` on a `ws` server and an EventEmitter async-generator
 * subscription (`on(ee, 'event', { signal })`) yielding tracked events with
 * the same envelope as trpc-pubsub (`{ kind, topic, payload, ts }`).
 */
import { EventEmitter, on } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initTRPC, tracked } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import * as z from 'zod';
import { TOPIC, type BenchPayload } from '../lib/payload.js';
import { runServer } from './common.js';

interface Event {
  id: string;
  wire: { kind: 'event'; topic: string; payload: BenchPayload; ts: number };
}

const payloadSchema = z.object({ seq: z.number(), t: z.number(), body: z.string() });

await runServer('trpc-by-hand', async ({ redisUrl }) => {
  if (redisUrl !== undefined) throw new Error('trpc-by-hand has no cross-instance variant');
  const ee = new EventEmitter();
  ee.setMaxListeners(0);
  let nextId = 0;
  const publish = (payload: BenchPayload) => {
    const event: Event = { id: `e${(++nextId).toString(36)}`, wire: { kind: 'event', topic: TOPIC, payload, ts: Date.now() } };
    ee.emit('event', event);
    return event.id;
  };

  const t = initTRPC.create();
  const router = t.router({
    [TOPIC]: t.router({
      events: t.procedure.input(z.object({ lastEventId: z.string().nullish() }).optional()).subscription(async function* ({ signal }) {
        for await (const [event] of on(ee, 'event', { signal }) as AsyncIterableIterator<[Event]>) {
          yield tracked(event.id, event.wire);
        }
      }),
      publish: t.procedure.input(z.object({ data: payloadSchema })).mutation(({ input }) => ({ id: publish(input.data) })),
    }),
  });

  let last: WebSocket | undefined;
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: '/trpc', perMessageDeflate: false });
  const handler = applyWSSHandler({ wss, router, createContext: () => ({}) });
  wss.on('connection', (socket) => {
    last = socket;
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  return {
    port: (http.address() as AddressInfo).port,
    subscribers: () => ee.listenerCount('event'),
    publish,
    buffered: () => last?.bufferedAmount ?? 0,
    async close() {
      handler.broadcastReconnectNotification();
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
});
