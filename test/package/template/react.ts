/**
 * The rows with `@trpc/tanstack-react-query`: the app's React integration
 * takes our router's types (subscriptionOptions of a topic's events).
 */
import { createTRPCContext, useSubscription } from '@trpc/tanstack-react-query';
import type { AppRouter } from './router.js';

export const { TRPCProvider, useTRPC } = createTRPCContext<AppRouter>();

export function useLobbyText(): string | undefined {
  const trpc = useTRPC();
  const subscription = useSubscription(trpc.chat.events.subscriptionOptions({ key: 'lobby' }));
  const item = subscription.data?.data;
  return item?.kind === 'event' ? item.payload.text : undefined;
}
