/** TanStack Query bindings for the demo's router (`@trpc/tanstack-react-query`). */
import { createTRPCContext } from '@trpc/tanstack-react-query';
import type { DemoRouter } from '../../demo-topics.js';

/** `TRPCProvider` wraps the app; `useTRPC()` gives the typed options proxy (`trpc.chat.events.subscriptionOptions(…)`). */
export const { TRPCProvider, useTRPC } = createTRPCContext<DemoRouter>();
