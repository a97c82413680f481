/**
 * Run-time checks in the app, printed as one JSON line for the test:
 * - a bad payload through the app's caller and through `pubsub.publish` is
 *   a `TRPCError` by the app's own `instanceof`;
 * - through the app's Express adapter it is a 400;
 * - over WebSocket, the stock wsLink subscribes, publishes and receives;
 * - the optional entry points load, or name the package to install.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, createWSClient, TRPCClientError, wsLink } from '@trpc/client';
import { TRPCError } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import express from 'express';
import { createPubSubServer } from 'trpc-pubsub';
import WebSocket from 'ws';
import { appRouter, pubsub, type AppRouter } from './router.js';

const report: Record<string, unknown> = {};
const codeOf = (error: unknown): string =>
  error instanceof TRPCError ? `TRPCError ${error.code}` : `not the app's TRPCError: ${String(error)}`;

try {
  await appRouter.createCaller({ user: 'ann' }).chat.publish({ key: 'lobby', data: { user: 'ann', text: '' } });
  report['caller'] = 'accepted';
} catch (error) {
  report['caller'] = codeOf(error);
}
try {
  await pubsub.publish('chat', { user: 'ann', text: '' }, { key: 'lobby' });
  report['publish'] = 'accepted';
} catch (error) {
  report['publish'] = codeOf(error);
}

const app = express();
app.use('/trpc', createExpressMiddleware({ router: appRouter, createContext: () => ({ user: 'ann' }) }));
const http = app.listen(0, '127.0.0.1');
await once(http, 'listening');
const { port } = http.address() as AddressInfo;
const post = async (body: unknown) => {
  const response = await fetch(`http://127.0.0.1:${port}/trpc/chat.publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { error?: { data?: { code?: string } } };
  return `${response.status} ${json.error?.data?.code ?? 'ok'}`;
};
report['expressBad'] = await post({ key: 'lobby', data: { user: 'ann', text: '' } });
report['expressGood'] = await post({ key: 'lobby', data: { user: 'ann', text: 'hi' } });

const server = createPubSubServer({ pubsub, router: appRouter, createContext: () => ({ user: 'ann' }) });
server.attach(http);
const wsClient = createWSClient({ url: `ws://127.0.0.1:${port}/trpc`, WebSocket: WebSocket as never });
const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient })] });
report['ws'] = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no event within 5 s')), 5_000);
  const subscription = trpc.chat.events.subscribe(
    { key: 'lobby' },
    {
      onStarted: () => void trpc.chat.publish.mutate({ key: 'lobby', data: { user: 'ann', text: 'over ws' } }).catch(reject),
      onData: ({ data }) => {
        if (data.kind === 'gap') return; // only after a resume
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve(data.payload.text);
      },
      onError: reject,
    },
  );
});
try {
  await trpc.chat.publish.mutate({ key: 'lobby', data: { user: 'ann', text: '' } });
  report['wsBad'] = 'accepted';
} catch (error) {
  report['wsBad'] = error instanceof TRPCClientError ? `TRPCClientError ${String(error.data?.code)}` : String(error);
}

for (const entry of ['trpc-pubsub/redis', 'trpc-pubsub/postgres']) {
  report[entry] = await import(entry).then(
    () => 'loaded',
    (error: Error) => `${error.name}: ${error.message}`,
  );
}

wsClient.close();
await server.close();
http.close();
await pubsub.close();
console.log(JSON.stringify(report));
