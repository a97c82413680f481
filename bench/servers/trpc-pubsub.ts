/**
 * The system under test: trpc-pubsub as shipped (src/), see
 * trpc-pubsub-app.ts.
 */
import { runServer } from './common.js';
import { createTrpcPubSub } from './trpc-pubsub-app.js';

await runServer('trpc-pubsub', createTrpcPubSub);
