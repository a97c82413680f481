/**
 * With `@trpc/tanstack-react-query`, the topic router's types reach the app:
 * `useSubscription(trpc.<topic>.events.subscriptionOptions(…))` yields
 * tracked items whose `data` is the topic's event (payload from its zod
 * schema) or a gap signal; inputs and publish arguments are checked.
 */
import { skipToken, useMutation } from '@tanstack/react-query';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { createTRPCContext, useSubscription } from '@trpc/tanstack-react-query';
import type { GapSignal } from 'trpc-pubsub/client';
import { describe, expectTypeOf, it } from 'vitest';
import type { TestRouter } from '../fixtures/app.js';

const { useTRPC } = createTRPCContext<TestRouter>();

type ChatPayload = { user: string; text: string };
/** What a `chat` subscriber gets in `data` when it is an event. */
type ChatEvent = { kind: 'event'; topic: 'chat'; key?: string; payload: ChatPayload; ts: number };

describe('useSubscription(trpc.<topic>.events.subscriptionOptions(…)) is typed from the topics', () => {
  it('yields tracked items whose data is the event or a gap signal, told apart by `kind`', () => {
    const trpc = useTRPC();
    const room = useSubscription(
      trpc.chat.events.subscriptionOptions(
        { key: 'r1' },
        {
          onData: (item) => {
            expectTypeOf(item.id).toEqualTypeOf<string>();
            if (item.data.kind === 'gap') expectTypeOf(item.data).toEqualTypeOf<GapSignal>();
            else expectTypeOf(item.data.payload).toEqualTypeOf<ChatPayload>();
          },
        },
      ),
    );

    expectTypeOf(room.data).toEqualTypeOf<{ id: string; data: ChatEvent | GapSignal } | undefined>();
    expectTypeOf(room.status).toEqualTypeOf<'idle' | 'connecting' | 'pending' | 'error'>();
    const item = room.data?.data;
    if (item?.kind === 'event') expectTypeOf(item).toEqualTypeOf<ChatEvent>();
    expectTypeOf(room.error?.data?.code).toEqualTypeOf<TRPC_ERROR_CODE_KEY | undefined>();
  });

  it('types each topic on its own: keyless and payload-less topics too', () => {
    const trpc = useTRPC();
    const news = useSubscription(trpc.news.events.subscriptionOptions());
    type NewsEvent = Extract<NonNullable<typeof news.data>['data'], { kind: 'event' }>;
    expectTypeOf<NewsEvent['payload']>().toEqualTypeOf<{ title: string }>();
    expectTypeOf<NewsEvent['topic']>().toEqualTypeOf<'news'>();
    const tick = useSubscription(trpc.tick.events.subscriptionOptions(undefined));
    // tRPC types what the client receives as JSON: a payload-less event has no `payload` (nor `key`).
    expectTypeOf<Extract<NonNullable<typeof tick.data>['data'], { kind: 'event' }>>().toEqualTypeOf<{ kind: 'event'; topic: 'tick'; ts: number }>();
  });

  it('checks the input: key type, history start, resume id; no key on keyless topics, no unknown fields', () => {
    const trpc = useTRPC();
    trpc.chat.events.subscriptionOptions({ key: 'r1', last: 20 });
    trpc.chat.events.subscriptionOptions({ key: 'r1', lastEventId: 'persisted-id' });
    trpc.chat.events.subscriptionOptions(skipToken);
    // Every room at once: the key is optional.
    trpc.chat.events.subscriptionOptions({});
    // @ts-expect-error chat keys are strings
    trpc.chat.events.subscriptionOptions({ key: 1 });
    // @ts-expect-error `last` is a number
    trpc.chat.events.subscriptionOptions({ key: 'r1', last: '20' });
    // @ts-expect-error `news` has no key
    trpc.news.events.subscriptionOptions({ key: 'x' });
    // @ts-expect-error not an input field (the server's strict schema refuses it too)
    trpc.chat.events.subscriptionOptions({ key: 'r1', room: 'r1' });
    // @ts-expect-error not a topic
    void trpc.nope;
  });
});

describe('useMutation(trpc.<topic>.publish.mutationOptions()) is typed from the topics', () => {
  it('takes { key, data } as the topic says and resolves with the event id', () => {
    const trpc = useTRPC();
    const send = useMutation(trpc.chat.publish.mutationOptions());
    // The input is `{ key } & { data }`: compare both ways.
    type Sent = Parameters<typeof send.mutateAsync>[0];
    expectTypeOf<Sent>().toExtend<{ key: string; data: ChatPayload }>();
    expectTypeOf<{ key: string; data: ChatPayload }>().toExtend<Sent>();
    expectTypeOf(send.mutateAsync).returns.toEqualTypeOf<Promise<{ id: string }>>();
    expectTypeOf(send.error?.data?.code).toEqualTypeOf<TRPC_ERROR_CODE_KEY | undefined>();
    send.mutate({ key: 'r1', data: { user: 'ann', text: 'hi' } });
    // @ts-expect-error chat publishes need a key
    send.mutate({ data: { user: 'ann', text: 'hi' } });
    // @ts-expect-error wrong payload
    send.mutate({ key: 'r1', data: { user: 'ann' } });
    useMutation(trpc.tick.publish.mutationOptions()).mutate(undefined);
    useMutation(trpc.news.publish.mutationOptions()).mutate({ data: { title: 'hello' } });
  });
});
