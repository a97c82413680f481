import { PubSub } from 'graphql-subscriptions';
import { graphqlSubscriptionsEngine } from 'trpc-pubsub/redis';
import { describeEngineContract } from './engine-contract.js';

// Any graphql-subscriptions PubSubEngine plugs in: here its in-memory PubSub
// is the broker that three instances of this process share.
let broker = new PubSub();

describeEngineContract('graphql-subscriptions engine (in-memory PubSub as the broker)', {
  history: false,
  instances: 3,
  setup: async () => {
    broker = new PubSub();
  },
  createEngine: (prefix) => graphqlSubscriptionsEngine(broker, { prefix }),
  injectRaw: (prefix, topic, raw) => broker.publish(`${prefix}:{${topic}}`, raw),
});
