/**
 * Compile-time checks in the app: our procedures keep their types through
 * the app's router, the stock client and the convenience client. Every
 * `@ts-expect-error` must be needed, or the typecheck fails.
 */
import { createTRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { createPubSubClient } from 'trpc-pubsub/client';
import type { AppRouter } from './router.js';

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;

export const publishInput: Inputs['chat']['publish'] = { key: 'lobby', data: { user: 'ann', text: 'hi' } };
// @ts-expect-error the chat payload's text is a string
export const wrongPayload: Inputs['chat']['publish'] = { key: 'lobby', data: { user: 'ann', text: 1 } };
export const greeting: Outputs['hello'] = 'Hello, ann!';

export function stockClient(trpc: ReturnType<typeof createTRPCClient<AppRouter>>): void {
  trpc.chat.events.subscribe(
    { key: 'lobby' },
    {
      onData: ({ id, data }) => {
        if (data.kind === 'gap') {
          const reason: 'expired' | 'unknown' | 'unsupported' = data.reason;
          void reason;
          return;
        }
        const text: string = data.payload.text;
        const eventId: string = id;
        void [text, eventId];
      },
    },
  );
  // @ts-expect-error no such topic
  trpc.news.events.subscribe(undefined, {});
  // @ts-expect-error the key of chat is a string
  void trpc.chat.publish.mutate({ key: 1, data: { user: 'ann', text: 'hi' } });
}

export function convenienceClient(): void {
  const client = createPubSubClient<AppRouter>({ url: 'ws://127.0.0.1:3000/trpc' });
  client.subscribe('chat', { key: 'lobby' }, (event) => {
    const user: string = event.payload.user;
    void user;
  });
  // @ts-expect-error no such topic
  client.subscribe('news', () => {});
  // @ts-expect-error the chat payload needs a user
  void client.publish('chat', { text: 'hi' }, { key: 'lobby' });
}
