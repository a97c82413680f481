import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import WebSocket from 'ws';
import * as z from 'zod';
import { createPubSub, createPubSubServer, defineTopics, topic, topicProcedures } from 'trpc-pubsub';

const topics = defineTopics({
  chat: topic({ key: z.string(), payload: z.object({ text: z.string() }) }),
  news: topic({ payload: z.string() }),
  tick: topic(),
});
const t = initTRPC.create();
const pubsub = createPubSub({ topics });
const appRouter = t.router({ hello: t.procedure.query(() => 'world'), ...topicProcedures(pubsub) });
type AppRouter = typeof appRouter;
const server = createPubSubServer({ pubsub, router: appRouter });
const { url } = await server.listen();
const wsClient = createWSClient({ url, WebSocket: WebSocket as never });
const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient })] });
console.log(await trpc.hello.query());
const got: unknown[] = [];
const sub = trpc.chat.events.subscribe({ key: 'r1' }, { onData: (e) => { got.push(e); console.log('data', JSON.stringify(e), e.data.payload.text); }, onStarted: () => console.log('started') });
const all = trpc.allTopics.events.subscribe(undefined, { onData: (e) => console.log('all', e.data.topic) });
await new Promise((r) => setTimeout(r, 100));
console.log(await trpc.chat.publish.mutate({ key: 'r1', data: { text: 'hi' } }));
await pubsub.publish('chat', { text: 'from server' }, { key: 'r1' });
await pubsub.publish('news', 'n1');
await pubsub.publish('tick');
try { await trpc.chat.publish.mutate({ key: 'r1', data: { text: 5 as never } }); } catch (e) { console.log('err', (e as Error).message.slice(0, 80)); }
await new Promise((r) => setTimeout(r, 100));
sub.unsubscribe(); all.unsubscribe();
wsClient.close();
await server.close();
console.log('health', server.health());
