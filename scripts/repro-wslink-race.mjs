#!/usr/bin/env node
// Standalone reproduction, for an upstream report, of a @trpc/client wsLink
// race: when the server closes a brand-new connection at once, a
// subscription made before (or while) the socket opened fails with
// "Active connection is not open" and is never resubscribed, although the
// client does reconnect.
//
// Only stock parts: a plain `ws` WebSocketServer with @trpc/server's
// applyWSSHandler, and @trpc/client's createWSClient + wsLink.
//
//   node scripts/repro-wslink-race.mjs [trials=30]
//
// Each trial starts a fresh server whose first connection is dropped as the
// mode says, subscribes once, and counts the subscription as lost when it
// errors (or has not started within 2 s) instead of starting on the second
// connection.
import { createServer } from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { initTRPC } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { WebSocket, WebSocketServer } from 'ws';

const require = createRequire(import.meta.url);
const versions = {
  client: require('@trpc/client/package.json').version,
  server: require('@trpc/server/package.json').version,
  ws: require('ws/package.json').version,
};

const t = initTRPC.create();
const router = t.router({
  events: t.procedure.subscription(async function* ({ signal }) {
    // Never yields; ends when the client stops or the socket goes.
    await new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }));
  }),
});

/**
 * How the server treats its first connection. `socket` is the server side,
 * `tcp` the raw TCP socket under it.
 */
const modes = {
  // Close (1000) as soon as the connection is accepted.
  'close at once': ({ socket }) => socket.close(),
  // The same, on a link with some latency: the closing handshake takes 20 ms
  // (the server reads the client's close frame late), as it does over any
  // real network.
  'close at once, 20 ms closing handshake': ({ socket, tcp }) => {
    socket.close();
    tcp.pause();
    setTimeout(() => tcp.resume(), 20);
  },
  // Drop the TCP connection without a closing handshake.
  'terminate at once': ({ socket }) => socket.terminate(),
  // Close 1 ms after accepting.
  'close after 1 ms': ({ socket }) => setTimeout(() => socket.close(), 1),
  // Server-side mitigation candidate: never close before the client's first
  // message has been read (slow closing handshake, the worst case).
  'close after the first message, 20 ms closing handshake': ({ socket, tcp }) =>
    socket.once('message', () => {
      socket.close();
      tcp.pause();
      setTimeout(() => tcp.resume(), 20);
    }),
  // The same, but the connectionParams message does not count: close after
  // the first request (subscription, query or mutation) has been read.
  'close after the first request, 20 ms closing handshake': ({ socket, tcp }) => {
    const onMessage = (data) => {
      if (isConnectionParams(data)) return;
      socket.off('message', onMessage);
      socket.close();
      tcp.pause();
      setTimeout(() => tcp.resume(), 20);
    };
    socket.on('message', onMessage);
  },
};

function isConnectionParams(data) {
  try {
    return JSON.parse(String(data))?.method === 'connectionParams';
  } catch {
    return false;
  }
}

async function trial(drop, { connectionParams }) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const handler = applyWSSHandler({ wss, router, keepAlive: { enabled: false } });
  let connections = 0;
  wss.on('connection', (socket, req) => {
    if (++connections === 1) drop({ socket, tcp: req.socket });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const { port } = http.address();

  // Only to show the state of the first socket when the subscription fails.
  let first;
  class ObservedWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      if (first !== undefined) return;
      first = { socket: this, closeEventFired: false };
      this.addEventListener('close', () => (first.closeEventFired = true));
    }
  }
  const wsClient = createWSClient({
    url: `ws://127.0.0.1:${port}`,
    WebSocket: ObservedWebSocket,
    retryDelayMs: () => 10,
    connectionParams: connectionParams ? { user: 'ann' } : undefined,
  });
  const trpc = createTRPCClient({ links: [wsLink({ client: wsClient })] });
  const outcome = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ lost: true, error: 'not started within 2 s' }), 2000);
    trpc.events.subscribe(undefined, {
      onStarted: () => {
        clearTimeout(timer);
        resolve({ lost: false });
      },
      onError: (error) => {
        clearTimeout(timer);
        const state = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'][first?.socket.readyState];
        resolve({ lost: true, error: `${error.message}; first socket ${state}, close event ${first?.closeEventFired ? 'fired' : 'not fired yet'}` });
      },
    });
  });
  await wsClient.close();
  handler.broadcastReconnectNotification();
  for (const client of wss.clients) client.terminate();
  wss.close();
  http.close();
  return { ...outcome, connections };
}

const trials = Number(process.argv[2] ?? 30);
console.log(`@trpc/client ${versions.client}, @trpc/server ${versions.server}, ws ${versions.ws}, node ${process.version}; ${trials} trials per row`);
for (const connectionParams of [false, true]) {
  for (const [name, drop] of Object.entries(modes)) {
    let lost = 0;
    const errors = new Map();
    for (let i = 0; i < trials; i++) {
      const outcome = await trial(drop, { connectionParams });
      if (!outcome.lost) continue;
      lost++;
      errors.set(outcome.error, (errors.get(outcome.error) ?? 0) + 1);
    }
    const why = [...errors].map(([message, count]) => `${count}x "${message}"`).join(', ');
    console.log(`${connectionParams ? 'with connectionParams   ' : 'without connectionParams'} | ${name}: lost ${lost} of ${trials}${why ? ` (${why})` : ''}`);
  }
}
