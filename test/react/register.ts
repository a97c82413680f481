/**
 * What an app does once to type the hooks: register its router with
 * `trpc-pubsub/react` (here by the path the tests import it from).
 */
import type { TestRouter } from '../fixtures/app.js';

declare module '../../client/react.js' {
  interface Register {
    router: TestRouter;
  }
}
