/**
 * The app's own tRPC router, as an app on its own tRPC and zod versions
 * writes it: its own `initTRPC`, its own context and auth middleware, its
 * own procedures, and trpc-pubsub's topic procedures mounted beside them.
 */
import { initTRPC, TRPCError } from '@trpc/server';
import * as z from 'zod';
import { createPubSub, defineTopics, topic, topicProcedures } from 'trpc-pubsub';

export const topics = defineTopics({
  chat: topic({
    key: z.string().min(1).max(64),
    payload: z.object({ user: z.string(), text: z.string().min(1).max(2000) }),
    history: { maxEvents: 10 },
  }),
  tick: topic(),
});

/** The app's context: who is calling. */
export interface Context {
  user: string | undefined;
}

const t = initTRPC.context<Context>().create();
const signedIn = t.procedure.use(({ ctx, next }) => {
  if (ctx.user === undefined) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.user } });
});

export const pubsub = createPubSub({ topics });

export const appRouter = t.router({
  hello: t.procedure.input(z.object({ name: z.string() })).query(({ input }) => `Hello, ${input.name}!`),
  ...topicProcedures(pubsub, { procedure: signedIn }),
});

export type AppRouter = typeof appRouter;
