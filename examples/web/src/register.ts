/** Tells `trpc-pubsub/react` the router's type, so `useTopic('ticker')` is typed. */
import type { DemoRouter } from '../../demo-topics.js';

declare module 'trpc-pubsub/react' {
  interface Register {
    router: DemoRouter;
  }
}
